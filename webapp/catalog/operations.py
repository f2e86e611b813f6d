"""Ops endpoints: start a full reindex, and follow any Celery task by id."""

from __future__ import annotations

import uuid

from celery.result import AsyncResult
from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint, abort

from storage import indexing
from storage.errors import StorageUnavailable
from tasks import indexing as indexing_tasks
from tasks.celery_app import app as celery_app
from webapp.catalog.schemas import TaskStartedSchema, TaskStateSchema

blp = Blueprint("operations", __name__, url_prefix="/api/v1", description="Ops: reindex and task states")


@blp.route("/admin/reindex")
class Reindex(MethodView):
    @blp.response(202, TaskStartedSchema)
    @blp.alt_response(409, description="A reindex is already running; errors.task_id names it")
    def post(self):
        """Start a full reindex from the catalog; follow it with GET /api/v1/tasks/{task_id}."""
        alias = current_app.config["SETTINGS"].elastic_index
        task_id = uuid.uuid4().hex
        # The lock is taken here, so a second request gets 409 at once rather
        # than a task that ends as "skipped"; the task releases it.
        if not indexing.acquire_reindex_lock(alias, task_id):
            running = indexing.reindex_lock_owner(alias)
            abort(409, message="a reindex is already running; follow it with GET /api/v1/tasks/{task_id}",
                  errors={"task_id": running})
        indexing_tasks.reindex.apply_async(task_id=task_id)
        return {"task_id": task_id, "state": "PENDING"}


@blp.route("/tasks/<string:task_id>")
class TaskState(MethodView):
    @blp.response(200, TaskStateSchema)
    def get(self, task_id):
        """Report any task's state, its progress while it runs, and its result or error when done."""
        if len(task_id) > 255:
            abort(422, message="Invalid parameters", errors={"path": {"task_id": ["must be at most 255 characters"]}})
        return describe_task(task_id)


def describe_task(task_id: str) -> dict:
    """Read a task's state from the result backend into a JSON-ready dict.

    Raises StorageUnavailable when the result backend (Redis) cannot be reached.
    """
    result = AsyncResult(task_id, app=celery_app)
    unreachable = tuple(getattr(celery_app.backend, "connection_errors", ()))
    try:
        state = result.state
        info = result.info
    except unreachable as exc:
        raise StorageUnavailable("redis", type(exc).__name__) from exc
    body = {"task_id": task_id, "name": getattr(result, "name", None), "state": state,
            "progress": None, "result": None, "error": None, "date_done": result.date_done}
    if state == "SUCCESS":
        body["result"] = info
    elif state in ("FAILURE", "RETRY") and isinstance(info, BaseException):
        body["error"] = f"{type(info).__name__}: {info}"
    elif isinstance(info, dict):
        # STARTED carries the worker's pid and host; custom states carry the task's own progress fields.
        body["progress"] = info
    return body
