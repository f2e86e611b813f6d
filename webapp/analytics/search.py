"""Search analytics: what shoppers search for, find and click.

Definitions: a search counts once per query_id within one UTC hour. A
search is type-ahead noise, and not counted, when the next search of its
session comes within 30 seconds and extends its normalized query, unless it
got a click. Suggest calls are not searches. A search's clicks are the click
events carrying its query_id, from 1 hour before to 24 hours after it, at the
position each click reported. Click-through rate is searches with at least
one click over searches with results.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime

from flask import Response, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from storage import clients
from storage.analytics import queries
from storage.analytics.search_log import LOG_COLUMNS, iter_search_log
from webapp.analytics.common import iso_utc, listed, reader, with_range
from webapp.analytics.schemas import (
    FilterQuerySchema, ListQuerySchema, RangeQuerySchema, SearchLogQuerySchema, SeriesQuerySchema,
)

# NOTE: the views here and in products.py declare no response schema, so the
# OpenAPI document describes their bodies only in prose (the README lists the
# fields) and the schemathesis test cannot check those bodies' shape.
blp = Blueprint("analytics_search", __name__, url_prefix="/api/v1/analytics/search",
                description="Search analytics, served from the summary tables plus the newest raw events")


@blp.route("/summary")
class Summary(MethodView):
    @blp.arguments(RangeQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, description="Searches, unique queries, rates, click position, latency and attributed sales")
    def get(self, args):
        """Summarize the searches of a range.

        zero_result_rate: searches with total 0 over searches. click_through_rate:
        searches with at least one click over searches with results. no_click_rate:
        searches without a click over all searches. mean_click_position: the mean
        reported position of the clicks on these searches. latency_ms: nearest-rank
        percentiles of took_ms. add_to_cart_rate and purchase_rate: searches from
        which a clicked product was added to the cart (bought) in the click's
        session within 24 hours, over searches. attributed: add-to-cart and
        purchase events in the range that follow a search click on the same
        product in the same session within 24 hours, with units and revenue per
        currency as exact decimal strings.
        """
        current = reader("search.summary")
        return with_range(args, lambda start, end: queries.search_summary(current, start, end))


@blp.route("/popular")
class Popular(MethodView):
    @blp.arguments(ListQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, description="Normalized queries by searches, with zero-result share and click-through rate")
    def get(self, args):
        """List the most searched normalized queries."""
        return listed("search.popular", queries.popular_queries, args)


@blp.route("/zero-results")
class ZeroResults(MethodView):
    @blp.arguments(ListQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, description="Queries with searches that found nothing, most such searches first")
    def get(self, args):
        """List the queries whose searches returned no result."""
        return listed("search.zero_results", queries.zero_result_queries, args)


@blp.route("/no-clicks")
class NoClicks(MethodView):
    @blp.arguments(ListQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, description="Queries whose searches had results but got no click")
    def get(self, args):
        """List the queries with results that shoppers did not click, most such searches first."""
        return listed("search.no_clicks", queries.no_click_queries, args)


@blp.route("/click-positions")
class ClickPositions(MethodView):
    @blp.arguments(ListQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, description="Clicks on the range's searches per reported result position")
    def get(self, args):
        """Count clicks at each result position."""
        return listed("search.click_positions", queries.click_positions, args)


@blp.route("/filters")
class Filters(MethodView):
    @blp.arguments(FilterQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, description="Filter names and values used in searches, with their zero-result counts")
    def get(self, args):
        """List the filters and values used, or with zero_results=true those that led to no result."""
        return listed("search.filters", queries.filter_usage, args, zero_results_only=args["zero_results"])


@blp.route("/timeseries")
class Timeseries(MethodView):
    @blp.arguments(SeriesQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, description="Searches per bucket in the requested zone, empty buckets as zero")
    @blp.alt_response(422, description="Invalid parameter, or a range giving more than 2000 buckets")
    def get(self, args):
        """Count searches per minute, hour, day, week or month in a time zone."""
        current = reader("search.timeseries")
        interval, tz = args["interval"], args["tz"]
        return with_range(args, lambda start, end: {
            "interval": interval, "tz": tz,
            "buckets": queries.search_timeseries(current, start, end, interval=interval, tz=tz),
        })


def _json_value(value):
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _jsonl(rows):
    for row in rows:
        yield json.dumps({name: _json_value(value) for name, value in row.items()}, ensure_ascii=False) + "\n"


def _csv(rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(LOG_COLUMNS)
    for row in rows:
        writer.writerow([json.dumps(value) if isinstance(value, list) else _json_value(value)
                         for value in row.values()])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


@blp.route("/log")
class SearchLog(MethodView):
    @blp.arguments(SearchLogQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, description="A stream of searches: JSON Lines or CSV, oldest first")
    @blp.alt_response(503, description="ClickHouse is unavailable")
    def get(self, args):
        """Export raw searches with their filters, result totals and clicks as a stream.

        One row per stored search row (a second page of a query_id is a second
        row), in time order. clicks, clicked_positions and clicked_product_ids
        come from click events with the row's query_id.
        """
        client = clients.clickhouse(clients.WEB)
        # Checked before streaming starts, so an outage is a 503 and not a cut-off 200.
        client.execute("SELECT 1", tag="api.analytics.search.log")
        rows = iter_search_log(client, args["start"], args["end"], query=args.get("q"), limit=args.get("limit"))
        if args["format"] == "csv":
            body, mimetype, suffix = _csv(rows), "text/csv", "csv"
        else:
            body, mimetype, suffix = _jsonl(rows), "application/x-ndjson", "jsonl"
        response = Response(stream_with_context(body), mimetype=mimetype)
        response.headers["Content-Disposition"] = f'attachment; filename="search-log.{suffix}"'
        return response
