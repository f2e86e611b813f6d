"""The Flask application factory."""

from __future__ import annotations

import logging
import uuid

from flask import Flask, g, request
from flask_smorest import Api

from config import Settings, get_settings
from config.logging import configure_logging, request_id_var
from storage import clients
from tasks.celery_app import configure_celery
from webapp.analytics import register_blueprints as register_analytics
from webapp.assets import blp as assets_blp
from webapp.dashboard import blp as dashboard_blp
from webapp.catalog import register_catalog
from webapp.cli import register_cli
from webapp.errors import register_error_handlers
from webapp.events import register_blueprints as register_events
from webapp.health import blp as health_blp
from webapp.search import blp as search_blp
from webapp.security import document_security, init_security

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


class ServiceApi(Api):
    """flask-smorest's Api with the project's error shape for every HTTP error."""

    def _register_error_handlers(self):
        # The handlers of webapp.errors cover every HTTPException, so the
        # default handler (which omits "message" when none was given) is skipped.
        pass


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or get_settings()
    configure_logging(settings)
    clients.configure(settings)
    configure_celery(settings)

    app = Flask(__name__)
    app.config.update(
        SETTINGS=settings,
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        API_TITLE=f"{settings.app_name} search and analytics API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL="/assets/vendor/swagger-ui-dist/",
        OPENAPI_REDOC_PATH="/redoc",
        OPENAPI_REDOC_URL="/assets/vendor/redoc/bundles/redoc.standalone.js",
        API_SPEC_OPTIONS={
            "info": {
                "description": (
                    "Product search and search/product analytics for a shop. Every error has the "
                    "shape {code, status, message, errors}: 422 for invalid parameters or fields, "
                    "400 for a body that is not JSON, 413 for an oversized body, 503 when a "
                    "dependency is down."
                )
            }
        },
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False

    api = ServiceApi(app)
    register_error_handlers(app)
    _register_request_id(app)
    init_security(app, settings)

    api.register_blueprint(health_blp)
    register_catalog(app, api)
    api.register_blueprint(search_blp)
    register_events(api)
    register_analytics(api)
    app.register_blueprint(assets_blp)
    app.register_blueprint(dashboard_blp)
    register_cli(app)

    # Keep last: it marks the operations of every blueprint registered above.
    document_security(api)
    app.extensions["api"] = api
    return app


def _register_request_id(app: Flask) -> None:
    @app.before_request
    def _bind_request_id():
        # Keep a caller's id when it looks sane, so one id follows a request
        # across the shop's services; otherwise make one.
        incoming = request.headers.get("X-Request-Id", "")
        rid = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        g.request_id = rid
        request_id_var.set(rid)

    @app.after_request
    def _send_request_id(response):
        response.headers["X-Request-Id"] = g.get("request_id", "")
        return response
