"""Liveness and readiness."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from storage import health

blp = Blueprint("health", __name__, description="Liveness and readiness of the service")


class HealthSchema(Schema):
    status = fields.String(metadata={"example": "ok"})


class DependencySchema(Schema):
    status = fields.String(metadata={"description": "up or down"})
    latency_ms = fields.Float()
    error = fields.String(metadata={"description": "the kind of failure, when down"})
    cluster_status = fields.String()


class ReadySchema(Schema):
    status = fields.String(metadata={"description": "ready, or unavailable when a dependency is down"})
    dependencies = fields.Dict(keys=fields.String(), values=fields.Nested(DependencySchema))


@blp.route("/health")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    def get(self):
        """Report liveness: the process responds. No dependency is checked."""
        return {"status": "ok"}


@blp.route("/ready")
class Ready(MethodView):
    @blp.response(200, ReadySchema)
    @blp.alt_response(503, schema=ReadySchema, description="A dependency is down")
    def get(self):
        """Readiness: Elasticsearch, ClickHouse and Redis each reported; 503 when one is down."""
        dependencies = health.check_all()
        ready = all(d["status"] == "up" for d in dependencies.values())
        body = {"status": "ready" if ready else "unavailable", "dependencies": dependencies}
        return body, (200 if ready else 503)
