"""POST /api/v1/admin/aggregations/refresh: rebuild the summaries of a date range in a task."""

from __future__ import annotations

import logging

from flask.views import MethodView
from flask_smorest import Blueprint
from kombu.exceptions import OperationalError

from storage.errors import StorageUnavailable
from tasks.aggregation import rebuild_range
from webapp.analytics.common import iso_utc
from webapp.analytics.schemas import RefreshBodySchema, RefreshStartedSchema

logger = logging.getLogger(__name__)

blp = Blueprint("analytics_admin", __name__, url_prefix="/api/v1/admin/aggregations",
                description="Operations on the analytics summary tables")


@blp.route("/refresh")
class Refresh(MethodView):
    @blp.arguments(RefreshBodySchema)
    @blp.response(202, RefreshStartedSchema)
    @blp.alt_response(503, description="Redis is unavailable")
    def post(self, data):
        """Rebuild the summaries of every hour touching [from, to) from the raw events, in a task.

        Complete UTC days in the range are rolled up again too. Use it after
        events older than a week arrived, or after raw events were purged.
        """
        start, end = iso_utc(data["start"]), iso_utc(data["end"])
        try:
            result = rebuild_range.apply_async((start, end))
        except OperationalError as exc:
            raise StorageUnavailable("redis", type(exc).__name__) from exc
        logger.info("analytics_rebuild_enqueued task_id=%s start=%s end=%s", result.id, start, end)
        return {"task_id": result.id, "from": start, "to": end}, 202
