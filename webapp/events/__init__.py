"""Event ingestion (POST /api/v1/events) and its admin endpoints."""

from __future__ import annotations

from flask_smorest import Api

from webapp.events import admin, ingest


def register_blueprints(api: Api) -> None:
    api.register_blueprint(ingest.blp)
    api.register_blueprint(admin.blp)
