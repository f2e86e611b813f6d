"""Query parameters and bodies of the analytics endpoints."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates

from storage.analytics.buckets import INTERVALS
from storage.analytics.queries import PRODUCT_METRICS

DEFAULT_RANGE = timedelta(days=7)
# A read over a longer range is refused: it would plan thousands of periods.
MAX_RANGE = timedelta(days=400)
MAX_LIMIT = 1000
MAX_OFFSET = 1_000_000
MAX_LOG_ROWS = 10_000_000
# ClickHouse's DateTime holds 1970 to 2106; a day of margin keeps local-time
# buckets of any zone inside it.
EARLIEST = datetime(1970, 1, 2)
LATEST = datetime(2105, 12, 31)


def to_naive_utc(moment: datetime) -> datetime:
    """UTC without tzinfo, the form storage uses; a naive input is taken as UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


class RangeQuerySchema(Schema):
    from_ = fields.DateTime(data_key="from", metadata={
        "description": "Start of the range, ISO 8601 (UTC when no offset is given). Default: `to` minus 7 days."})
    to = fields.DateTime(metadata={"description": "End of the range (exclusive), ISO 8601. Default: now."})
    compare = fields.String(validate=validate.OneOf(["previous_period"]), metadata={
        "description": "previous_period adds `previous`: the same figures for the range just before."})

    @post_load
    def resolve_range(self, data, **_kwargs):
        end = to_naive_utc(data.get("to") or datetime.now(timezone.utc)).replace(microsecond=0)
        start = to_naive_utc(data["from_"]) if data.get("from_") else end - DEFAULT_RANGE
        if start >= end:
            raise ValidationError(f"from ({start.isoformat()}Z) must be before to ({end.isoformat()}Z)", "from")
        if end - start > MAX_RANGE:
            raise ValidationError(f"the range from {start.isoformat()}Z to {end.isoformat()}Z is longer than "
                                  f"the maximum of {MAX_RANGE.days} days", "from")
        _check_bounds(start, end)
        if data.get("compare") == "previous_period" and start - (end - start) < EARLIEST:
            raise ValidationError(f"the previous period would start before {EARLIEST.date().isoformat()}", "compare")
        data.pop("from_", None)
        data["start"], data["end"] = start, end
        return data


def _check_bounds(start: datetime, end: datetime) -> None:
    for name, moment in (("to", end), ("from", start)):
        if not EARLIEST <= moment <= LATEST:
            raise ValidationError(f"{moment.isoformat()}Z is outside the supported range "
                                  f"{EARLIEST.date().isoformat()} to {LATEST.date().isoformat()}", name)


class ListQuerySchema(RangeQuerySchema):
    limit = fields.Integer(load_default=100, validate=validate.Range(1, MAX_LIMIT),
                           metadata={"description": f"Rows per page, at most {MAX_LIMIT}."})
    offset = fields.Integer(load_default=0, validate=validate.Range(0, MAX_OFFSET),
                            metadata={"description": "Rows to skip, for the pages after the first."})


class FilterQuerySchema(ListQuerySchema):
    zero_results = fields.Boolean(load_default=False, metadata={
        "description": "Only filter values used in searches with zero results, most such searches first."})


def _check_zone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin") from exc


class SeriesQuerySchema(RangeQuerySchema):
    interval = fields.String(load_default="day", validate=validate.OneOf(INTERVALS),
                             metadata={"description": "Bucket size: " + ", ".join(INTERVALS) + "."})
    tz = fields.String(load_default="UTC", metadata={
        "description": "IANA time zone of the buckets; day, week and month buckets start at local midnight."})

    @validates("tz")
    def validate_tz(self, value, **_kwargs):
        _check_zone(value)


class ProductTopQuerySchema(ListQuerySchema):
    metric = fields.String(load_default="views", validate=validate.OneOf(PRODUCT_METRICS),
                           metadata={"description": "Ranking metric: " + ", ".join(PRODUCT_METRICS) + "."})
    currency = fields.String(validate=validate.Regexp(r"^[A-Z]{3}$", error="expected a 3-letter ISO 4217 code"),
                             metadata={"description": "With metric=revenue: rank by revenue in this currency."})


class SearchLogQuerySchema(RangeQuerySchema):
    format = fields.String(load_default="jsonl", validate=validate.OneOf(["jsonl", "csv"]),
                           metadata={"description": "jsonl (one JSON object a line) or csv (with a header)."})
    q = fields.String(validate=validate.Length(1, 500),
                      metadata={"description": "Only searches with this normalized query."})
    limit = fields.Integer(validate=validate.Range(1, MAX_LOG_ROWS),
                           metadata={"description": "Stop after this many rows."})


class RefreshBodySchema(Schema):
    from_ = fields.DateTime(data_key="from", required=True,
                            metadata={"description": "Start of the range to rebuild, ISO 8601."})
    to = fields.DateTime(required=True, metadata={"description": "End of the range to rebuild (exclusive)."})

    @post_load
    def resolve_range(self, data, **_kwargs):
        start, end = to_naive_utc(data["from_"]), to_naive_utc(data["to"])
        if start >= end:
            raise ValidationError("from must be before to", "from")
        if end - start > MAX_RANGE:
            raise ValidationError(f"a rebuild covers at most {MAX_RANGE.days} days", "from")
        _check_bounds(start, end)
        return {"start": start, "end": end}


class RefreshStartedSchema(Schema):
    task_id = fields.String(metadata={"description": "Follow it at GET /api/v1/tasks/{task_id}."})
    from_ = fields.String(data_key="from")
    to = fields.String()
