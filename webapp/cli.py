"""Command-line tools, run as `flask --app wsgi <group> <command>`."""

from __future__ import annotations

import json

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from storage import migrations
from storage.errors import StorageError
from storage.setup import init_storage

storage_cli = AppGroup("storage", help="Create and inspect the ClickHouse schema and the search index.")


@storage_cli.command("init")
def storage_init() -> None:
    """Apply ClickHouse migrations and create the search index and alias if missing."""
    settings = current_app.config["SETTINGS"]
    try:
        result = init_storage(settings)
    except StorageError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(result))


@storage_cli.command("migrations")
def storage_migrations() -> None:
    """List the migrations this version of the code carries."""
    for migration in migrations.load_migrations():
        click.echo(f"{migration.version:04d} {migration.name} ({len(migration.statements)} statements)")


def register_cli(app: Flask) -> None:
    app.cli.add_command(storage_cli)
