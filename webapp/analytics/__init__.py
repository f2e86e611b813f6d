"""The /api/v1/analytics endpoints and the summary-table admin endpoint."""

from __future__ import annotations

from flask_smorest import Api

from webapp.analytics import admin, products, search


def register_blueprints(api: Api) -> None:
    api.register_blueprint(search.blp)
    api.register_blueprint(products.blp)
    api.register_blueprint(admin.blp)
