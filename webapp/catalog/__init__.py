"""The catalog: products, categories, import, reindex and task states."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from webapp.catalog import categories, operations, products
from webapp.catalog.cli import catalog_cli


def register_catalog(app: Flask, api: Api) -> None:
    """Register the catalog's blueprints and CLI commands on the app."""
    api.register_blueprint(products.blp)
    api.register_blueprint(categories.blp)
    api.register_blueprint(operations.blp)
    app.cli.add_command(catalog_cli)
