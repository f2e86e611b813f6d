"""Product analytics: views, clicks, add-to-carts, purchases and revenue per product and category.

Each figure counts events by their own time. units and revenue come from
purchase events: revenue is price times quantity, summed exactly per
currency and sent as a decimal string. view_to_purchase_rate is purchase
events over view events.
"""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import RAISE

from storage.analytics import queries
from webapp.analytics.common import listed, page, reader, with_range
from webapp.analytics.schemas import ListQuerySchema, ProductTopQuerySchema, RangeQuerySchema, SeriesQuerySchema

blp = Blueprint("analytics_products", __name__, url_prefix="/api/v1/analytics",
                description="Product and category funnels, served from the summary tables plus the newest raw events")


@blp.route("/products/top")
class TopProducts(MethodView):
    @blp.arguments(ProductTopQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, description="Products ranked by the metric; by revenue one row per product and currency")
    def get(self, args):
        """Rank products by views, clicks, add_to_cart, purchases or revenue."""
        current = reader("products.top")
        return with_range(args, lambda start, end: {"metric": args["metric"], **page(args, queries.top_products(
            current, start, end, metric=args["metric"], limit=args["limit"], offset=args["offset"],
            currency=args.get("currency")))})


def _require_product(product_id: str, endpoint: str) -> None:
    if not queries.product_known(reader(endpoint), product_id):
        abort(404, message=f"product {product_id!r} is not in the catalog and has no events")


@blp.route("/products/<string:product_id>")
class ProductFunnel(MethodView):
    @blp.arguments(RangeQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, description="The product's funnel with revenue per currency")
    @blp.alt_response(404, description="Unknown product")
    def get(self, args, product_id):
        """Report one product's views, clicks, add-to-carts, purchases, units, revenue and conversion."""
        _require_product(product_id, "products.funnel")
        current = reader("products.funnel")
        return with_range(args, lambda start, end: {
            "product_id": product_id, **queries.product_funnel(current, start, end, product_id)})


@blp.route("/products/<string:product_id>/timeseries")
class ProductTimeseries(MethodView):
    @blp.arguments(SeriesQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, description="The product's funnel per bucket in the requested zone")
    @blp.alt_response(404, description="Unknown product")
    @blp.alt_response(422, description="Invalid parameter, or a range giving more than 2000 buckets")
    def get(self, args, product_id):
        """Report one product's funnel per minute, hour, day, week or month in a time zone."""
        _require_product(product_id, "products.timeseries")
        current = reader("products.timeseries")
        interval, tz = args["interval"], args["tz"]
        return with_range(args, lambda start, end: {
            "product_id": product_id, "interval": interval, "tz": tz,
            "buckets": queries.product_timeseries(current, start, end, product_id, interval=interval, tz=tz),
        })


@blp.route("/categories")
class Categories(MethodView):
    @blp.arguments(ListQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, description="Per-category funnels, each including its subcategories")
    def get(self, args):
        """Report the funnel of each category, most viewed first.

        A product's category is the one of its newest live catalog row; a
        category's figures include its subcategories' products, and `own`
        contains those of its own products only. Products without a known
        category count under category_id null.
        """
        return listed("categories", queries.category_funnels, args)
