"""`flask --app wsgi catalog import|reindex`: load a catalog file, rebuild the search index."""

from __future__ import annotations

import json
import sys
import uuid

import click
from flask import current_app
from flask.cli import AppGroup
from tqdm import tqdm

from storage import indexing
from storage.errors import StorageError
from tasks import indexing as indexing_tasks
from webapp.catalog import importer

catalog_cli = AppGroup("catalog", help="Load catalog files and rebuild the search index.")


def _count_rows(path: str, file_format: str) -> int:
    with open(path, encoding="utf-8") as handle:
        lines = sum(1 for line in handle if line.strip())
    return lines - 1 if file_format == "csv" else lines


@catalog_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "file_format", type=click.Choice(importer.FORMATS), default="jsonl", show_default=True,
              help="File format: JSON Lines (one object a line) or CSV with a header row.")
@click.option("--mapping", default="",
              help="field=source pairs, comma-separated, `|` between fallbacks, or a preset name: "
                   + ", ".join(importer.PRESETS) + ". Unmapped fields are read from a source field of the same name.")
@click.option("--default", "defaults", multiple=True, metavar="FIELD=VALUE",
              help="Value of a field when the row has none, e.g. currency=USD (repeatable).")
@click.option("--category-depth", type=click.IntRange(min=1), default=None,
              help="Keep only this many levels of each category path (default: all, or the preset's).")
@click.option("--batch-size", type=click.IntRange(1, 1000), default=1000, show_default=True,
              help="Rows per bulk write.")
def import_command(path, file_format, mapping, defaults, category_depth, batch_size) -> None:
    """Import PATH through the product validation and bulk path, printing a summary as JSON."""
    preset = importer.PRESETS.get(mapping, {})
    try:
        fields = preset.get("mapping") or importer.parse_mapping(mapping)
        values = dict(preset.get("defaults") or {})
        for pair in defaults:
            name, sep, value = pair.partition("=")
            if not sep:
                raise importer.CatalogImportError(f"invalid --default {pair!r}: expected FIELD=VALUE")
            values[name.strip()] = value
        depth = category_depth or preset.get("category_depth")
        with tqdm(total=_count_rows(path, file_format), unit="rows", desc="import", file=sys.stderr) as bar:
            summary = importer.import_catalog(path, file_format, fields, defaults=values, category_depth=depth,
                                              batch_size=batch_size, progress=bar.update)
    except importer.CatalogImportError as exc:
        raise click.UsageError(str(exc)) from exc
    except StorageError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(summary, indent=2, default=str))


@catalog_cli.command("reindex")
@click.option("--queue", is_flag=True, help="Queue the reindex for a worker and print its task id instead of running it here.")
def reindex_command(queue: bool) -> None:
    """Rebuild the search index from ClickHouse into a new index and swap the alias to it."""
    alias = current_app.config["SETTINGS"].elastic_index
    owner = uuid.uuid4().hex
    try:
        if not indexing.acquire_reindex_lock(alias, owner):
            raise click.ClickException(f"a reindex is already running (task {indexing.reindex_lock_owner(alias)})")
        if queue:
            indexing_tasks.reindex.apply_async(task_id=owner)
            click.echo(json.dumps({"task_id": owner}))
            return
        try:
            with tqdm(unit="docs", desc="reindex", file=sys.stderr) as bar:
                def report(phase: str, done: int, total: int) -> None:
                    bar.set_description(phase)
                    bar.total = total or None
                    bar.n = done
                    bar.refresh()

                summary = indexing.reindex(progress=report)
        finally:
            indexing.release_reindex_lock(alias, owner)
    except StorageError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(summary, indent=2))
