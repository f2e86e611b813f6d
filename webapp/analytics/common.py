"""Helpers of every analytics view: the reader, the range echo and compare=previous_period."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask_smorest import abort

from storage import clients
from storage.analytics.buckets import TooManyBuckets
from storage.analytics.queries import Reader


def reader(endpoint: str) -> Reader:
    """Return a summary-mode reader whose queries are tagged with the endpoint's name."""
    return Reader(clients.clickhouse(clients.WEB), tag=f"api.analytics.{endpoint}",
                  connect=lambda: clients.clickhouse(clients.WEB))


def iso_utc(moment: datetime) -> str:
    return moment.isoformat() + "Z"


def with_range(args: dict, compute: Callable[[datetime, datetime], dict[str, Any]]) -> dict[str, Any]:
    """Compute the figures for the requested range and, with compare, for the range just before."""
    start, end = args["start"], args["end"]
    try:
        body = {"from": iso_utc(start), "to": iso_utc(end), **compute(start, end)}
        if args.get("compare") == "previous_period":
            previous_start = start - (end - start)
            body["previous"] = {"from": iso_utc(previous_start), "to": iso_utc(start),
                                **compute(previous_start, start)}
    except TooManyBuckets as exc:
        abort(422, message=str(exc), errors={"query": {"interval": [str(exc) + "; use a longer interval or a "
                                                                     "shorter range"]}})
    return body


def page(args: dict, items: list) -> dict[str, Any]:
    return {"limit": args["limit"], "offset": args["offset"], "items": items}


def listed(endpoint: str, read: Callable[..., list], args: dict, **options) -> dict[str, Any]:
    """Read one page of a list for the requested range (and the previous one, with compare)."""
    current = reader(endpoint)
    return with_range(args, lambda start, end: page(args, read(
        current, start, end, limit=args["limit"], offset=args["offset"], **options)))
