"""marshmallow schemas of POST /api/v1/events and of the events admin endpoints, with their limits."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

# Limits of an event. Each one is also in README.md's Events section.
MAX_EVENTS_PER_REQUEST = 1000
EVENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
ID_MAX_LENGTH = 128
# Clocks of shoppers' devices drift; later than this ahead of the server is rejected.
MAX_FUTURE_SKEW = timedelta(minutes=5)
# Events older than this are rejected: the summary tables are not rebuilt for
# older days, and a device that was offline longer has stale data anyway.
MAX_EVENT_AGE = timedelta(days=30)
# position is stored as UInt16, quantity as UInt32, price as Decimal(18, 4).
POSITION_MAX = 2**16 - 1
QUANTITY_MAX = 2**32 - 1
PRICE_MAX = Decimal("99999999999999.9999")
PRICE_MAX_PLACES = 4

EVENT_TYPES = ("view", "click", "add_to_cart", "purchase")
# Fields each type needs; the other type-specific fields are rejected for it.
REQUIRED_BY_TYPE = {
    "view": set(),
    "click": {"query_id", "position"},
    "add_to_cart": {"quantity"},
    "purchase": {"quantity", "price", "currency", "order_id"},
}
TYPE_SPECIFIC = {"query_id", "position", "quantity", "price", "currency", "order_id"}
# A search result may also lead to a view, a cart or a purchase, so query_id is allowed on every type.
ALLOWED_BY_TYPE = {name: fields_ | {"query_id"} for name, fields_ in REQUIRED_BY_TYPE.items()}

_id_validators = [
    validate.Length(min=1, max=ID_MAX_LENGTH),
    validate.Regexp(EVENT_ID_PATTERN, error="must start with a letter or digit and contain only "
                                            "letters, digits and . _ : -"),
]
_opaque_id = validate.Length(max=ID_MAX_LENGTH)


def _validate_timestamp(value: datetime) -> None:
    now = datetime.now(timezone.utc)
    if value > now + MAX_FUTURE_SKEW:
        raise ValidationError(f"must not be more than {int(MAX_FUTURE_SKEW.total_seconds() // 60)} minutes "
                              "in the future; check the device clock.")
    if value < now - MAX_EVENT_AGE:
        raise ValidationError(f"must not be older than {MAX_EVENT_AGE.days} days.")


def _validate_price(value: Decimal) -> None:
    if not value.is_finite() or value < 0 or value > PRICE_MAX:
        raise ValidationError(f"must be between 0 and {PRICE_MAX}.")
    if value.as_tuple().exponent < -PRICE_MAX_PLACES:
        raise ValidationError(f"must have at most {PRICE_MAX_PLACES} decimal places.")


class EventSchema(Schema):
    """One shopper event; fields beyond the common ones depend on `type`."""

    event_id = fields.String(
        validate=_id_validators,
        metadata={"description": "the client's id of this event, so a resent event is stored once; "
                                 "generated (a UUID) when missing", "example": "3f2a9c1e-7b1d-4c8e-9a55-0e6f1d2c3b4a"},
    )
    type = fields.String(required=True, validate=validate.OneOf(EVENT_TYPES))
    product_id = fields.String(required=True, validate=validate.Length(min=1, max=ID_MAX_LENGTH))
    session_id = fields.String(load_default="", validate=_opaque_id, metadata={"description": "opaque"})
    user_id = fields.String(load_default="", validate=_opaque_id, metadata={"description": "opaque"})
    timestamp = fields.AwareDateTime(
        format="iso", default_timezone=None, validate=_validate_timestamp,
        metadata={"description": "when it happened on the client, ISO 8601 with a UTC offset; at most 5 minutes "
                                 "ahead and 30 days old; the receive time when missing"},
    )
    query_id = fields.String(validate=_opaque_id, metadata={"description": "the search's query_id (click: required)"})
    position = fields.Integer(strict=True, validate=validate.Range(min=1, max=POSITION_MAX),
                              metadata={"description": "1-based position of the clicked result (click: required)"})
    quantity = fields.Integer(strict=True, validate=validate.Range(min=1, max=QUANTITY_MAX),
                              metadata={"description": "add_to_cart and purchase: required"})
    price = fields.Decimal(
        allow_nan=False, as_string=True, validate=_validate_price,
        metadata={"description": "unit price, exact decimal as a string or JSON number (purchase: required)",
                  "example": "19.99"},
    )
    currency = fields.String(
        validate=validate.Regexp(r"^[A-Z]{3}$", error="must be an ISO 4217 code such as EUR."),
        metadata={"description": "purchase: required"},
    )
    order_id = fields.String(validate=validate.Length(min=1, max=ID_MAX_LENGTH),
                             metadata={"description": "purchase: required"})

    @validates_schema(skip_on_field_errors=False)
    def _fields_of_type(self, data, **_kwargs):
        event_type = data.get("type")
        if event_type not in REQUIRED_BY_TYPE:
            return
        errors = {}
        for name in sorted(REQUIRED_BY_TYPE[event_type] - data.keys()):
            errors[name] = [f"required for type {event_type}."]
        for name in sorted((data.keys() & TYPE_SPECIFIC) - ALLOWED_BY_TYPE[event_type]):
            errors[name] = [f"not allowed for type {event_type}."]
        if errors:
            raise ValidationError(errors)


class EventBatchSchema(Schema):
    events = fields.List(
        fields.Nested(EventSchema), required=True,
        validate=validate.Length(min=1, max=MAX_EVENTS_PER_REQUEST),
        metadata={"description": f"1 to {MAX_EVENTS_PER_REQUEST} events; more gets 413"},
    )


class AcceptedSchema(Schema):
    accepted = fields.Integer(metadata={"description": "number of events accepted"})
    event_ids = fields.List(fields.String(), metadata={"description": "the id of each event, in request order"})


class DeadLetterQuerySchema(Schema):
    kind = fields.String(load_default="interaction", validate=validate.OneOf(("interaction", "search")),
                         metadata={"description": "interaction (table events) or search (table search_events)"})
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=1_000_000))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class DeadLetterSchema(Schema):
    kind = fields.String()
    reason = fields.String(metadata={"description": "why ClickHouse rejected the row"})
    failed_at = fields.String(metadata={"description": "ISO 8601, UTC"})
    row = fields.Raw(metadata={"description": "the row as buffered (columns of the table), or its raw text"})


class DeadLetterPageSchema(Schema):
    total = fields.Integer()
    items = fields.List(fields.Nested(DeadLetterSchema))


class DeadLetterKindSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(("interaction", "search")))


class ClearedSchema(Schema):
    deleted = fields.Integer()


class PurgeRequestSchema(Schema):
    session_id = fields.String(validate=validate.Length(min=1, max=ID_MAX_LENGTH))
    user_id = fields.String(validate=validate.Length(min=1, max=ID_MAX_LENGTH))

    @validates_schema
    def _one_id(self, data, **_kwargs):
        if ("session_id" in data) == ("user_id" in data):
            raise ValidationError("give exactly one of session_id and user_id.", "_schema")


class PurgeStartedSchema(Schema):
    task_id = fields.String(metadata={"description": "follow it with GET /api/v1/tasks/{task_id}"})


class MutationSchema(Schema):
    table = fields.String()
    mutation_id = fields.String()
    command = fields.String()
    create_time = fields.DateTime()
    parts_to_do = fields.Integer()


class BacklogSchema(Schema):
    interaction = fields.Integer(metadata={"description": "interaction events waiting in Redis"})
    search = fields.Integer(metadata={"description": "search events waiting in Redis"})
    claimed = fields.Integer(metadata={"description": "events being inserted by flush tasks"})
    limit = fields.Integer(metadata={"description": "backlog above which POST /events answers 503"})
