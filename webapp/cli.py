"""Command-line tools, run as `flask --app wsgi <group> <command>`."""

from __future__ import annotations

import json

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from storage import api_keys, migrations
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


keys_cli = AppGroup("keys", help="Create, list and revoke API keys.")


@keys_cli.command("create")
@click.option("--name", required=True, help="Who or what uses the key, e.g. 'shop-backend'.")
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice(api_keys.SCOPES), help="A scope to grant; repeat for several.")
def keys_create(name: str, scopes: tuple[str, ...]) -> None:
    """Create a key and print its token once; only its hash is stored."""
    key, token = api_keys.create_key(name, list(scopes))
    click.echo(json.dumps({"key_id": key.key_id, "name": key.name, "scopes": sorted(key.scopes), "token": token}))
    click.echo("Store the token now: it cannot be shown again.", err=True)


@keys_cli.command("list")
def keys_list() -> None:
    """List keys (ids, names, scopes, state); tokens are never shown."""
    for key in api_keys.list_keys():
        state = f"revoked {key.revoked_at}" if key.revoked_at else "active"
        click.echo(f"{key.key_id}  {key.name}  {','.join(sorted(key.scopes))}  created {key.created_at}  {state}")


@keys_cli.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by its id; requests with it get 401 from then on."""
    if not api_keys.revoke_key(key_id):
        raise click.ClickException(f"no API key with id {key_id!r}; see `keys list`")
    click.echo(f"revoked {key_id}")


def register_cli(app: Flask) -> None:
    app.cli.add_command(storage_cli)
    app.cli.add_command(keys_cli)
