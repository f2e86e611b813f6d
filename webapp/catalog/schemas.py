"""marshmallow schemas of products, categories and the catalog operations, with their limits."""

from __future__ import annotations

from decimal import Decimal

from marshmallow import Schema, ValidationError, fields, validate, validates

# Limits of a product. Each one is also in README.md's Catalog section.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:~-]*$"
ID_MAX_LENGTH = 128
NAME_MAX_LENGTH = 500
DESCRIPTION_MAX_LENGTH = 20_000
BRAND_MAX_LENGTH = 200
CATEGORY_NAME_MAX_LENGTH = 200
IMAGE_URL_MAX_LENGTH = 2048
ATTRIBUTES_MAX_COUNT = 100
ATTRIBUTE_KEY_MAX_LENGTH = 100
ATTRIBUTE_VALUE_MAX_LENGTH = 500
# Prices fit ClickHouse's Decimal(18, 4): four decimal places and 14 digits before the point.
PRICE_MAX = Decimal("99999999999999.9999")
PRICE_MAX_PLACES = 4
# Counts are stored as UInt32.
COUNT_MAX = 2**32 - 1
BULK_MAX_ITEMS = 1000

_id_validators = [
    validate.Length(min=1, max=ID_MAX_LENGTH),
    validate.Regexp(ID_PATTERN, error="must start with a letter or digit and contain only letters, digits and . _ : ~ -"),
]


class ExactDecimal(fields.Decimal):
    """A decimal read from a JSON number or string and written as a string without trailing zeros."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        text = format(Decimal(value), "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text


def _validate_price(value: Decimal) -> None:
    if value < 0 or value > PRICE_MAX:
        raise ValidationError(f"must be between 0 and {PRICE_MAX}.")
    if value.as_tuple().exponent < -PRICE_MAX_PLACES:
        raise ValidationError(f"must have at most {PRICE_MAX_PLACES} decimal places.")


class ProductFieldsSchema(Schema):
    """The fields a client writes, without the id (PUT and PATCH take it from the path)."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=NAME_MAX_LENGTH))
    description = fields.String(load_default="", validate=validate.Length(max=DESCRIPTION_MAX_LENGTH))
    brand = fields.String(load_default="", validate=validate.Length(max=BRAND_MAX_LENGTH))
    category_id = fields.String(
        load_default=None, allow_none=True, validate=_id_validators,
        metadata={"description": "id of an existing category, or null"},
    )
    price = ExactDecimal(
        required=True, allow_nan=False, validate=_validate_price,
        metadata={"type": "string", "format": "decimal", "example": "19.99",
                  "description": "exact decimal, as a JSON string (a JSON number is accepted too); returned as a string"},
    )
    currency = fields.String(
        required=True, validate=validate.Regexp(r"^[A-Z]{3}$", error="must be an ISO 4217 code such as USD."),
    )
    in_stock = fields.Boolean(load_default=True)
    stock_quantity = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0, max=COUNT_MAX))
    rating = fields.Float(load_default=None, allow_none=True, allow_nan=False, validate=validate.Range(min=0, max=5))
    review_count = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0, max=COUNT_MAX))
    image_url = fields.URL(
        load_default=None, allow_none=True, schemes={"http", "https"}, validate=validate.Length(max=IMAGE_URL_MAX_LENGTH),
    )
    attributes = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=ATTRIBUTE_KEY_MAX_LENGTH)),
        values=fields.String(validate=validate.Length(max=ATTRIBUTE_VALUE_MAX_LENGTH)),
        load_default=dict,
        metadata={"description": f"free string keys and values, at most {ATTRIBUTES_MAX_COUNT} pairs"},
    )

    @validates("attributes")
    def _attribute_count(self, value: dict, **_kwargs) -> None:
        if len(value) > ATTRIBUTES_MAX_COUNT:
            raise ValidationError(f"must have at most {ATTRIBUTES_MAX_COUNT} attributes, got {len(value)}.")


class ProductCreateSchema(ProductFieldsSchema):
    id = fields.String(required=True, validate=_id_validators, metadata={"description": "the shop's own product id"})


class ProductReplaceSchema(ProductFieldsSchema):
    id = fields.String(validate=_id_validators, metadata={"description": "optional; must equal the id in the path"})


class ProductSchema(ProductCreateSchema):
    """A product as returned."""

    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)
    version = fields.Integer(dump_only=True, metadata={"description": "also sent as the ETag"})


class ProductQuerySchema(Schema):
    category_id = fields.String(
        validate=_id_validators, metadata={"description": "products of this category or any category below it"},
    )
    brand = fields.String(validate=validate.Length(min=1, max=BRAND_MAX_LENGTH))
    in_stock = fields.Boolean()
    min_price = ExactDecimal(allow_nan=False, validate=_validate_price)
    max_price = ExactDecimal(allow_nan=False, validate=_validate_price)
    updated_since = fields.AwareDateTime(default_timezone=None, metadata={"description": "ISO 8601 with a time zone"})


class BulkRequestSchema(Schema):
    products = fields.List(
        fields.Raw(metadata={"type": "object"}), required=True, validate=validate.Length(min=1, max=BULK_MAX_ITEMS),
        metadata={"description": f"1 to {BULK_MAX_ITEMS} products, each validated like POST /products"},
    )


class BulkItemSchema(Schema):
    index = fields.Integer(metadata={"description": "position in the request"})
    id = fields.String(allow_none=True)
    status = fields.Integer(metadata={"description": "201 created, 200 updated, 422 invalid"})
    version = fields.Integer()
    errors = fields.Dict()


class BulkResultSchema(Schema):
    created = fields.Integer()
    updated = fields.Integer()
    rejected = fields.Integer()
    items = fields.List(fields.Nested(BulkItemSchema))


class CategoryFieldsSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=CATEGORY_NAME_MAX_LENGTH))
    parent_id = fields.String(
        load_default=None, allow_none=True, validate=_id_validators, metadata={"description": "null for a root"},
    )


class CategoryCreateSchema(CategoryFieldsSchema):
    id = fields.String(required=True, validate=_id_validators)


class CategorySchema(CategoryCreateSchema):
    """A category as returned."""

    path = fields.List(fields.String(), dump_only=True, metadata={"description": "ids from the root down to this one"})
    product_count = fields.Integer(dump_only=True, metadata={"description": "live products here and in every descendant"})
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)
    version = fields.Integer(dump_only=True)


class TaskStartedSchema(Schema):
    task_id = fields.String()
    state = fields.String()


class TaskStateSchema(Schema):
    task_id = fields.String()
    name = fields.String(allow_none=True)
    state = fields.String(metadata={"description": "PENDING (also for unknown ids), STARTED, PROGRESS, RETRY, SUCCESS or FAILURE"})
    progress = fields.Dict(allow_none=True, metadata={"description": "the task's own progress fields while it runs"})
    result = fields.Raw(allow_none=True)
    error = fields.String(allow_none=True)
    date_done = fields.DateTime(allow_none=True)
