"""Request and response schemas of the search endpoints."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from storage.search import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    MAX_QUERY_LENGTH,
    MAX_RESULT_WINDOW,
    MAX_SUGGESTIONS,
    SORTS,
    deepest_page,
)

# Selected values per facet; a shopper never ticks more.
MAX_FACET_VALUES = 50
# Session and user ids are opaque strings chosen by the shop.
MAX_ID_LENGTH = 128

_facet_value = fields.String(validate=validate.Length(min=1, max=256))


class SearchArgsSchema(Schema):
    q = fields.String(
        load_default="",
        validate=validate.Length(max=MAX_QUERY_LENGTH),
        metadata={"description": f"Words to search for, at most {MAX_QUERY_LENGTH} characters; "
                                 "empty browses with the filters. Never parsed as query syntax."},
    )
    category = fields.List(
        fields.String(validate=validate.Length(min=1, max=128)),
        load_default=list,
        validate=validate.Length(max=MAX_FACET_VALUES),
        metadata={"description": "Category id; matches the category and all its descendants. "
                                 "Repeat the parameter to select several (any of them matches)."},
    )
    brand = fields.List(
        _facet_value,
        load_default=list,
        validate=validate.Length(max=MAX_FACET_VALUES),
        metadata={"description": "Exact brand as listed in the brand facet; repeat for several."},
    )
    min_price = fields.Float(validate=validate.Range(min=0), metadata={"description": "Lowest price, inclusive"})
    max_price = fields.Float(validate=validate.Range(min=0), metadata={"description": "Highest price, inclusive"})
    in_stock = fields.Boolean(metadata={"description": "true: only products in stock; false: only those out of stock"})
    sort = fields.String(load_default="relevance", validate=validate.OneOf(SORTS))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1), metadata={"description": "1-based page number"})
    page_size = fields.Integer(
        load_default=DEFAULT_PAGE_SIZE,
        validate=validate.Range(min=1, max=MAX_PAGE_SIZE),
        metadata={"description": f"Hits per page, at most {MAX_PAGE_SIZE}"},
    )

    @validates_schema
    def _check_ranges(self, data, **_kwargs):
        low, high = data.get("min_price"), data.get("max_price")
        if low is not None and high is not None and low > high:
            raise ValidationError(f"min_price ({low:g}) must not exceed max_price ({high:g})", "min_price")

        page, page_size = data.get("page", 1), data.get("page_size", DEFAULT_PAGE_SIZE)
        deepest = deepest_page(page_size)
        if page > deepest:
            raise ValidationError(
                f"page {page} is beyond the deepest reachable page, {deepest} for page_size {page_size} "
                f"(only the first {MAX_RESULT_WINDOW} results can be paged); narrow the search with "
                "filters or another sort instead",
                "page",
            )


class SearchHeadersSchema(Schema):
    class Meta:
        # The request's other headers are ignored, not rejected.
        unknown = EXCLUDE

    session_id = fields.String(data_key="X-Session-Id", load_default="", validate=validate.Length(max=MAX_ID_LENGTH))
    user_id = fields.String(data_key="X-User-Id", load_default="", validate=validate.Length(max=MAX_ID_LENGTH))


class SuggestArgsSchema(Schema):
    q = fields.String(
        required=True,
        validate=validate.Length(max=100),
        metadata={"description": "The prefix typed so far, at most 100 characters"},
    )
    size = fields.Integer(load_default=5, validate=validate.Range(min=1, max=MAX_SUGGESTIONS),
                          metadata={"description": f"Suggestions of each kind, at most {MAX_SUGGESTIONS}"})


class HitSchema(Schema):
    id = fields.String()
    name = fields.String()
    brand = fields.String()
    price = fields.Float(allow_none=True)
    price_exact = fields.String(allow_none=True, metadata={"description": "The exact decimal price"})
    currency = fields.String(allow_none=True)
    in_stock = fields.Boolean()
    stock_quantity = fields.Integer()
    rating = fields.Float(allow_none=True)
    review_count = fields.Integer()
    category_id = fields.String()
    category_path = fields.List(fields.String(), metadata={"description": "Category ids from the root"})
    category_names = fields.List(fields.String())
    image_url = fields.String(allow_none=True)
    created_at = fields.String(allow_none=True)
    popularity = fields.Float()
    position = fields.Integer(metadata={"description": "1-based rank over all pages, for click events"})
    score = fields.Float(allow_none=True)
    highlight = fields.Dict(
        keys=fields.String(), values=fields.List(fields.String()),
        metadata={"description": "HTML-escaped fragments of name and description, matches in <em>"},
    )


class CategoryFacetSchema(Schema):
    id = fields.String()
    name = fields.String()
    depth = fields.Integer(metadata={"description": "0 for a root category"})
    count = fields.Integer()
    selected = fields.Boolean()


class ValueFacetSchema(Schema):
    value = fields.String()
    count = fields.Integer()
    selected = fields.Boolean()


class PriceFacetSchema(Schema):
    key = fields.String()
    to = fields.Float(allow_none=True, metadata={"description": "Exclusive upper bound"})
    count = fields.Integer()

    class Meta:
        include = {"from": fields.Float(allow_none=True, metadata={"description": "Inclusive lower bound"})}


class FacetsSchema(Schema):
    category = fields.List(fields.Nested(CategoryFacetSchema))
    brand = fields.List(fields.Nested(ValueFacetSchema))
    price = fields.List(fields.Nested(PriceFacetSchema))


class SearchResponseSchema(Schema):
    query_id = fields.String(metadata={"description": "Id of this search; send it with click events"})
    query = fields.String()
    total = fields.Integer()
    page = fields.Integer()
    page_size = fields.Integer()
    pages = fields.Integer(metadata={"description": "Pages reachable for this total and page_size"})
    took_ms = fields.Integer(metadata={"description": "Time the service spent on the search"})
    hits = fields.List(fields.Nested(HitSchema))
    facets = fields.Nested(FacetsSchema)


class ProductSuggestionSchema(Schema):
    id = fields.String()
    name = fields.String()


class QuerySuggestionSchema(Schema):
    query = fields.String()
    count = fields.Integer(metadata={"description": "Searches with results over the last 30 days"})


class SuggestResponseSchema(Schema):
    q = fields.String()
    products = fields.List(fields.Nested(ProductSuggestionSchema))
    queries = fields.List(fields.Nested(QuerySuggestionSchema))


class SearchStatsSchema(Schema):
    lost_events_process = fields.Integer(
        metadata={"description": "Search events this worker process could not buffer since it started"})
    lost_events_recorded = fields.Integer(
        allow_none=True,
        metadata={"description": "Lost search events of all processes, as recorded in Redis once it "
                                 "responded again; null while Redis is down"})
    pid = fields.Integer(metadata={"description": "Process id of the worker that handled this request"})
