"""Products: CRUD, listing with filters, and bulk upserts."""

from __future__ import annotations

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import ValidationError

from storage import catalog
from webapp.catalog import service
from webapp.catalog.schemas import (
    BulkRequestSchema,
    BulkResultSchema,
    ProductCreateSchema,
    ProductFieldsSchema,
    ProductQuerySchema,
    ProductReplaceSchema,
    ProductSchema,
)

blp = Blueprint("products", __name__, url_prefix="/api/v1/products", description="The catalog's products")

# Pagination of GET /products: page_size defaults to 20 and is at most 100.
# A page may start at most MAX_OFFSET products in, because a deeper offset
# makes ClickHouse read and skip that many rows; clients should filter instead.
MAX_PAGE_SIZE = 100
MAX_OFFSET = 10_000_000


# Pagination parameters are parsed by flask-smorest's own schema, so the
# filter schema cannot reject unknown names by itself.
_LIST_PARAMETERS = frozenset(ProductQuerySchema().fields) | {"page", "page_size"}


def _reject_unknown_parameters() -> None:
    unknown = sorted(set(request.args) - _LIST_PARAMETERS)
    if unknown:
        abort(422, message="Invalid parameters", errors={"query": {name: ["Unknown field."] for name in unknown}})


def _with_etag(product: dict, status: int = 200):
    return product, status, {"ETag": f'"{product["version"]}"'}


def _if_match() -> list[str] | None:
    return service.parse_if_match(request.headers.get("If-Match"))


@blp.route("")
class Products(MethodView):
    @blp.arguments(ProductQuerySchema, location="query")
    @blp.response(200, ProductSchema(many=True))
    @blp.paginate(page_size=20, max_page_size=MAX_PAGE_SIZE)
    def get(self, filters, pagination_parameters):
        """List live products ordered by id, with filters; the X-Pagination header contains the totals."""
        _reject_unknown_parameters()
        if pagination_parameters.first_item > MAX_OFFSET:
            deepest = MAX_OFFSET // pagination_parameters.page_size + 1
            abort(422, message="Invalid parameters", errors={"query": {"page": [
                f"page {pagination_parameters.page} starts beyond product {MAX_OFFSET:,}; "
                f"the deepest page at page_size {pagination_parameters.page_size} is {deepest}"]}})
        category_ids = None
        if filters.get("category_id"):
            categories = catalog.load_categories(tag="api.products.list")
            if filters["category_id"] not in categories:
                abort(422, message="Invalid parameters",
                      errors={"query": {"category_id": [f"unknown category {filters['category_id']!r}"]}})
            category_ids = catalog.descendant_ids(categories, filters["category_id"])
        items, total = catalog.list_products(
            filters, offset=pagination_parameters.first_item, limit=pagination_parameters.page_size,
            category_ids=category_ids, tag="api.products.list",
        )
        pagination_parameters.item_count = total
        return items

    @blp.arguments(ProductCreateSchema)
    @blp.response(201, ProductSchema)
    @blp.alt_response(409, description="A product with this id exists")
    def post(self, data):
        """Create a product; indexing is queued and the response does not wait for it."""
        return _with_etag(service.create_product(data), 201)


@blp.route("/<string:product_id>")
class ProductById(MethodView):
    @blp.response(200, ProductSchema)
    @blp.alt_response(404, description="No such product")
    def get(self, product_id):
        """Read a product from the catalog (current right after a write); ETag is its version."""
        product = catalog.get_product(product_id, tag="api.products.get")
        if product is None:
            abort(404, message=f"product {product_id!r} not found")
        return _with_etag(product)

    @blp.arguments(ProductReplaceSchema)
    @blp.response(200, ProductSchema)
    @blp.alt_response(404, description="No such product")
    @blp.alt_response(412, description="If-Match names another version")
    def put(self, data, product_id):
        """Replace a product; fields left out get their defaults. Honours If-Match."""
        if data.pop("id", product_id) != product_id:
            abort(422, message="Invalid fields", errors={"json": {"id": ["must equal the id in the path"]}})
        return _with_etag(service.update_product(product_id, data, _if_match(), replace=True))

    @blp.arguments(ProductFieldsSchema(partial=True))
    @blp.response(200, ProductSchema)
    @blp.alt_response(404, description="No such product")
    @blp.alt_response(412, description="If-Match names another version")
    def patch(self, changes, product_id):
        """Change the given fields only (attributes are replaced as a whole). Honours If-Match."""
        return _with_etag(service.update_product(product_id, changes, _if_match(), replace=False))

    @blp.response(204)
    @blp.alt_response(404, description="No such product")
    @blp.alt_response(412, description="If-Match names another version")
    def delete(self, product_id):
        """Delete a product (a tombstone row); its document leaves the index shortly after."""
        service.delete_product(product_id, _if_match())


@blp.route("/bulk")
class ProductsBulk(MethodView):
    @blp.arguments(BulkRequestSchema)
    @blp.response(200, BulkResultSchema)
    def post(self, data):
        """Create or replace up to 1,000 products; each item gets its own status (201, 200 or 422)."""
        return bulk_upsert(data["products"], tag="api.products.bulk")


def validate_items(items: list[dict], *, tag: str) -> tuple[list[dict], list[dict]]:
    """Validate raw product dicts; return the valid ones and one result per rejected item.

    Each valid product carries its position in `_index`; results carry `index`.
    """
    schema = ProductCreateSchema()
    valid, rejected, seen = [], [], set()
    for position, item in enumerate(items):
        try:
            product = schema.load(item)
        except ValidationError as exc:
            rejected.append({"index": position, "id": _raw_id(item), "status": 422, "errors": exc.messages})
            continue
        if product["id"] in seen:
            rejected.append({"index": position, "id": product["id"], "status": 422,
                             "errors": {"id": ["appears earlier in the same request"]}})
            continue
        seen.add(product["id"])
        valid.append({**product, "_index": position})

    unknown = service.unknown_categories(valid, tag=tag)
    if unknown:
        for product in [p for p in valid if p.get("category_id") in unknown]:
            rejected.append({"index": product["_index"], "id": product["id"], "status": 422,
                             "errors": {"category_id": [f"unknown category {product['category_id']!r}"]}})
        valid = [p for p in valid if p.get("category_id") not in unknown]
    return valid, rejected


def bulk_upsert(items: list[dict], *, tag: str) -> dict:
    """Validate and upsert a batch of raw product dicts; return counts and per-item results."""
    valid, rejected = validate_items(items, tag=tag)
    positions = [product.pop("_index") for product in valid]
    written = service.upsert_products(valid, tag=tag)
    results = [{"index": position, **result} for position, result in zip(positions, written)]
    results.extend(rejected)
    results.sort(key=lambda result: result["index"])
    return {
        "created": sum(1 for r in written if r["status"] == 201),
        "updated": sum(1 for r in written if r["status"] == 200),
        "rejected": len(rejected),
        "items": results,
    }


def _raw_id(item) -> str | None:
    value = item.get("id") if isinstance(item, dict) else None
    return value if isinstance(value, str) else None
