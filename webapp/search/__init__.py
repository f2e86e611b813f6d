"""Product search and autocomplete: GET /api/v1/search and GET /api/v1/search/suggest."""

from __future__ import annotations

import logging
import os
import time
import uuid

from flask import current_app, jsonify
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import RAISE

from storage import query_suggestions, search, search_stats
from storage.errors import StorageUnavailable
from storage.search import MAX_RESULT_WINDOW, SearchRejected, SearchRequest, SearchResult
from tasks.celery_app import app as celery_app
from webapp.search.events import build_search_event, lost_events, now_utc, sender
from webapp.search.schemas import (
    SearchArgsSchema,
    SearchHeadersSchema,
    SearchResponseSchema,
    SearchStatsSchema,
    SuggestArgsSchema,
    SuggestResponseSchema,
)

logger = logging.getLogger(__name__)

blp = Blueprint("search", __name__, url_prefix="/api/v1/search", description="Product search and autocomplete")

REFRESH_SUGGESTIONS_TASK = "aggregation.refresh_query_suggestions"


def _alias() -> str:
    return current_app.config["SETTINGS"].elastic_index


def _search_request(args: dict) -> SearchRequest:
    return SearchRequest(
        q=args["q"],
        categories=tuple(dict.fromkeys(args["category"])),
        brands=tuple(dict.fromkeys(args["brand"])),
        min_price=args.get("min_price"),
        max_price=args.get("max_price"),
        in_stock=args.get("in_stock"),
        sort=args["sort"],
        page=args["page"],
        page_size=args["page_size"],
    )


@blp.route("")
class Search(MethodView):
    # RAISE: a misspelt parameter would otherwise be ignored without a word.
    @blp.arguments(SearchArgsSchema(), location="query", unknown=RAISE)
    @blp.arguments(SearchHeadersSchema(), location="headers")
    @blp.response(200, SearchResponseSchema)
    @blp.alt_response(422, description="Invalid parameter, or a page beyond the deepest reachable page")
    @blp.alt_response(503, description="Elasticsearch is unavailable")
    def get(self, args, headers):
        """Search products by text, with filters, facets, sorting and pages.

        Every search gets a new query_id and records a search event without
        waiting for Redis or ClickHouse. Facet counts ignore the facet's own
        filter, so several values of one facet can be selected.
        """
        started = time.perf_counter()
        request = _search_request(args)
        query_id = uuid.uuid4().hex

        try:
            result = search.search(_alias(), request)
        except SearchRejected:
            abort(422, message="the search text could not be run as a search; shorten or simplify it")
        took_ms = int((time.perf_counter() - started) * 1000)

        event = build_search_event(
            query_id=query_id, raw_query=args["q"], request=request, total=result.total,
            took_ms=took_ms, session_id=headers["session_id"], user_id=headers["user_id"], at=now_utc(),
        )
        # jsonify directly: the body already has the shape of SearchResponseSchema
        # (a test checks it), so a schema dump would only walk every hit again.
        response = jsonify(_response_body(query_id, args["q"], request, result, took_ms))
        sender.submit(event)
        return response


def _response_body(query_id: str, raw_query: str, request: SearchRequest, result: SearchResult,
                   took_ms: int) -> dict:
    offset = (request.page - 1) * request.page_size
    for position, hit in enumerate(result.hits, start=offset + 1):
        hit["position"] = position

    reachable = min(result.total, MAX_RESULT_WINDOW)
    return {
        "query_id": query_id,
        "query": raw_query,
        "total": result.total,
        "page": request.page,
        "page_size": request.page_size,
        "pages": -(-reachable // request.page_size),
        "took_ms": took_ms,
        "hits": result.hits,
        "facets": result.facets,
    }


@blp.route("/suggest")
class Suggest(MethodView):
    @blp.arguments(SuggestArgsSchema(), location="query", unknown=RAISE)
    @blp.response(200, SuggestResponseSchema)
    @blp.alt_response(503, description="Elasticsearch is unavailable")
    def get(self, args):
        """Complete a prefix with product names and popular past queries.

        Not a search: it records no search event. Past queries come from a
        Redis copy refreshed in the background from the search analytics;
        while Redis is down only product names are returned.
        """
        products = search.suggest_names(_alias(), args["q"], args["size"])
        return {"q": args["q"], "products": products, "queries": _popular_queries(args["q"], args["size"])}


def _popular_queries(prefix: str, size: int) -> list[dict]:
    try:
        queries, refresh_due = query_suggestions.popular_queries(prefix, size, claim_refresh=True)
    except StorageUnavailable as exc:
        logger.warning("query_suggestions_unavailable error=%s", exc)
        return []

    if refresh_due:
        try:
            celery_app.send_task(REFRESH_SUGGESTIONS_TASK)
        except Exception as exc:  # noqa: BLE001 - a failed enqueue must not fail the keystroke
            logger.warning("query_suggestions_refresh_not_sent error=%s", type(exc).__name__)
    return queries


@blp.route("/stats")
class SearchStats(MethodView):
    @blp.response(200, SearchStatsSchema)
    def get(self):
        """Count search events lost because Redis was unavailable when the search ran."""
        try:
            recorded = search_stats.lost_events()
        except StorageUnavailable:
            recorded = None
        return {"lost_events_process": lost_events.total, "lost_events_recorded": recorded, "pid": os.getpid()}
