"""POST /api/v1/events: validate a batch whole, buffer it in Redis and return 202."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import ValidationError

import tasks.events  # noqa: F401  (registers the flush scheduler that push() calls)
from storage import event_buffer
from webapp.events import fast_validation
from webapp.events.schemas import MAX_EVENTS_PER_REQUEST, AcceptedSchema, EventBatchSchema, EventSchema

logger = logging.getLogger(__name__)

blp = Blueprint("events", __name__, url_prefix="/api/v1/events",
                description="Shopper events: views, clicks, carts and purchases")

_event_schema = EventSchema()
_batch_schema = EventBatchSchema()

_REQUEST_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"oneOf": [EventSchema, EventBatchSchema]}}},
}


@blp.route("")
class Events(MethodView):
    @blp.doc(requestBody=_REQUEST_BODY)
    @blp.response(202, AcceptedSchema)
    @blp.alt_response(413, description=f"More than {MAX_EVENTS_PER_REQUEST} events, or a body over the size limit")
    @blp.alt_response(422, description="An invalid event; errors are keyed by field, or by index under `events`, "
                                       "and no event of the request is accepted")
    @blp.alt_response(503, description="Redis is unavailable or the backlog is full; retry after Retry-After")
    def post(self):
        """Accept one event or {"events": [...]} (up to 1,000) for batched insertion into ClickHouse."""
        body = request.get_json(force=True)
        received_at = datetime.now(timezone.utc).replace(microsecond=0)
        loaded = _load_events(body, received_at)

        rows = [_row(event, received_at) for event in loaded]
        try:
            event_buffer.push("interaction", rows)
        except event_buffer.BacklogFull as exc:
            abort(503, message="too many events are waiting to be stored; retry later",
                  errors={"dependency": "clickhouse"}, headers={"Retry-After": str(exc.retry_after)})

        return {"accepted": len(rows), "event_ids": [row["event_id"] for row in rows]}, 202


def _load_events(body: Any, now: datetime) -> list[dict]:
    """Validate the body as one event or a batch; abort with 413 or 422 otherwise."""
    is_batch = isinstance(body, dict) and "events" in body
    if is_batch and isinstance(body["events"], list) and len(body["events"]) > MAX_EVENTS_PER_REQUEST:
        abort(413, message=f"{len(body['events'])} events in one request; send at most "
                           f"{MAX_EVENTS_PER_REQUEST} per request")

    if not is_batch:
        loaded = fast_validation.load_events([body], now)
    elif len(body) == 1 and body["events"]:
        loaded = fast_validation.load_events(body["events"], now)
    else:
        loaded = None
    if loaded is not None:
        return loaded

    try:
        if is_batch:
            return _batch_schema.load(body)["events"]
        return [_event_schema.load(body)]
    except ValidationError as exc:
        abort(422, message="Invalid events; nothing was accepted", errors={"json": exc.messages})


def _row(event: dict, received_at: datetime) -> dict[str, Any]:
    """Build the row of table events for one validated event."""
    row = {
        "event_id": event.get("event_id") or str(uuid.uuid4()),
        "event_type": event["type"],
        "timestamp": event.get("timestamp", received_at),
        "received_at": received_at,
        "product_id": event["product_id"],
        "session_id": event["session_id"],
        "user_id": event["user_id"],
    }
    for name in ("query_id", "position", "quantity", "price", "currency", "order_id"):
        if name in event:
            row[name] = event[name]
    return row
