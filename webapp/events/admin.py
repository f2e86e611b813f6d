"""Admin endpoints of event ingestion: backlog, dead letters, purge of a session or user."""

from __future__ import annotations

import logging

from flask.views import MethodView
from flask_smorest import Blueprint
from kombu.exceptions import OperationalError

from storage import clients, event_buffer, events
from storage.errors import StorageUnavailable
from tasks.events import purge
from webapp.events.schemas import (
    BacklogSchema,
    ClearedSchema,
    DeadLetterKindSchema,
    DeadLetterPageSchema,
    DeadLetterQuerySchema,
    MutationSchema,
    PurgeRequestSchema,
    PurgeStartedSchema,
)

logger = logging.getLogger(__name__)

blp = Blueprint("events_admin", __name__, url_prefix="/api/v1/admin/events",
                description="Operations on event ingestion: backlog, dead letters, purge")


@blp.route("/backlog")
class Backlog(MethodView):
    @blp.response(200, BacklogSchema)
    @blp.alt_response(503, description="Redis is unavailable")
    def get(self):
        """Count the events waiting in Redis for ClickHouse."""
        return event_buffer.backlog() | {"limit": clients.settings().event_backlog_limit}


@blp.route("/dead-letters")
class DeadLetters(MethodView):
    @blp.arguments(DeadLetterQuerySchema, location="query")
    @blp.response(200, DeadLetterPageSchema)
    @blp.alt_response(503, description="Redis is unavailable")
    def get(self, query):
        """List the events ClickHouse rejected for their content, newest first, with the reason."""
        total, items = event_buffer.dead_letters(query["kind"], query["offset"], query["limit"])
        return {"total": total, "items": items}

    @blp.arguments(DeadLetterKindSchema, location="query")
    @blp.response(200, ClearedSchema)
    @blp.alt_response(503, description="Redis is unavailable")
    def delete(self, query):
        """Delete the dead letters of a kind, once they were inspected."""
        deleted = event_buffer.clear_dead_letters(query["kind"])
        logger.info("events_dead_letters_cleared kind=%s deleted=%d", query["kind"], deleted)
        return {"deleted": deleted}


@blp.route("/purge")
class Purge(MethodView):
    @blp.arguments(PurgeRequestSchema)
    @blp.response(202, PurgeStartedSchema)
    @blp.alt_response(503, description="Redis is unavailable")
    def post(self, data):
        """Delete every stored event of one session or one user (ALTER TABLE ... DELETE, in a task)."""
        try:
            result = purge.apply_async(kwargs=data)
        except OperationalError as exc:
            raise StorageUnavailable("redis", type(exc).__name__) from exc
        logger.info("events_purge_enqueued task_id=%s by=%s", result.id, ",".join(sorted(data)))
        return {"task_id": result.id}, 202


@blp.route("/mutations")
class Mutations(MethodView):
    @blp.response(200, MutationSchema(many=True))
    @blp.alt_response(503, description="ClickHouse is unavailable")
    def get(self):
        """List the purge mutations ClickHouse has not finished yet."""
        return events.pending_mutations(tag="api.admin.events.mutations")
