"""Pure SQL builders that compute analytics rows from the raw event tables.

Each builder returns a SELECT (no trailing semicolon) and fills a parameter
dict. The same builders feed the rollup refresh (grouped by hour) and the raw
tail of a read, so a figure is computed one way whatever serves it.

Definitions, applied per search (one `query_id` within one UTC hour):
- its attributes (normalized query, total, latency, session, filters) come
  from its earliest row (by timestamp_ms, then event_id);
- its clicks are click events carrying its `query_id` from 1 hour before to
  24 hours after it;
- it led to an add-to-cart (or purchase) when a product clicked from it is
  added to the cart (or bought) in the click's session within 24 hours;
- it is type-ahead noise, and not counted, when the next search of its
  session comes within 30 seconds and extends its normalized query, unless
  it got a click.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

Range = tuple[datetime, datetime]

TYPE_AHEAD_MS = 30_000
CLICK_LOOKBACK = timedelta(hours=1)
CLICK_WINDOW = timedelta(hours=24)
CONVERSION_WINDOW = timedelta(hours=24)

# Seconds, for comparisons between DateTime columns inside SQL.
_CLICK_LOOKBACK_S = int(CLICK_LOOKBACK.total_seconds())
_CLICK_WINDOW_S = int(CLICK_WINDOW.total_seconds())
_CONVERSION_WINDOW_S = int(CONVERSION_WINDOW.total_seconds())

# The earliest row of a search decides its attributes; event_id breaks ties.
_FIRST = "(timestamp_ms, event_id)"


class Params(dict):
    """Query parameters with generated names, so builders can nest freely."""

    def add(self, value) -> str:
        name = f"p{len(self)}"
        self[name] = value
        # The driver sends a datetime as a string literal, which the index
        # analysis of toStartOfHour(timestamp) rejects, so convert it in SQL.
        if isinstance(value, datetime):
            return f"toDateTime(%({name})s)"
        return f"%({name})s"


def widen(ranges: Sequence[Range], before: timedelta, after: timedelta) -> list[Range]:
    """Extend each range and merge the ones that then overlap."""
    merged: list[Range] = []
    for start, end in sorted((start - before, end + after) for start, end in ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def time_condition(column: str, ranges: Sequence[Range], params: Params) -> str:
    """Build an OR of half-open ranges on a DateTime column, or `0` for no range."""
    if not ranges:
        return "0"
    parts = [f"({column} >= {params.add(start)} AND {column} < {params.add(end)})" for start, end in ranges]
    return "(" + " OR ".join(parts) + ")"


def search_groups(condition: str) -> str:
    """Select one row per search (query_id and hour) among the search rows matching condition.

    NOTE: rows of one query_id in two UTC hours (a page 2 sent after the hour
    turned) count as one search in each hour, because hours are summarized
    separately. The raw reference groups the same way, so both agree.
    """
    return f"""
        SELECT
            query_id,
            toStartOfHour(timestamp) AS hour,
            min(timestamp) AS started_at,
            min(timestamp_ms) AS started_ms,
            argMin(normalized_query, {_FIRST}) AS normalized_query,
            argMin(total, {_FIRST}) AS total,
            argMin(took_ms, {_FIRST}) AS took_ms,
            argMin(session_id, {_FIRST}) AS session_id,
            argMin(filter_names, {_FIRST}) AS filter_names,
            argMin(filter_values, {_FIRST}) AS filter_values
        FROM search_events
        WHERE {condition}
        GROUP BY query_id, hour"""


def _typed_on(ranges: Sequence[Range], params: Params) -> str:
    """Searches followed within 30 s in their session by a search that extends their query."""
    lookahead = widen(ranges, timedelta(0), timedelta(milliseconds=TYPE_AHEAD_MS))
    groups = search_groups(time_condition("timestamp", lookahead, params))
    return f"""
        SELECT query_id, hour, toUInt8(1) AS typed_on
        FROM
        (
            SELECT
                tupleElement(sequence[i], 2) AS query_id,
                tupleElement(sequence[i], 4) AS hour,
                tupleElement(sequence[i], 1) AS current_ms,
                tupleElement(sequence[i], 3) AS current_query,
                tupleElement(sequence[i + 1], 1) AS next_ms,
                tupleElement(sequence[i + 1], 3) AS next_query,
                i < length(sequence) AS has_next
            FROM
            (
                SELECT arraySort(groupArray((started_ms, query_id, normalized_query, hour))) AS sequence
                FROM ({groups})
                WHERE session_id != ''
                GROUP BY session_id
            )
            ARRAY JOIN arrayEnumerate(sequence) AS i
        )
        WHERE has_next
            AND next_ms <= current_ms + {TYPE_AHEAD_MS}
            AND length(next_query) > length(current_query)
            AND startsWith(next_query, current_query)"""


def _search_clicks(ranges: Sequence[Range], params: Params) -> str:
    """Select each click on a search in ranges, within the search's click window."""
    in_range = time_condition("timestamp", ranges, params)
    click_range = time_condition("timestamp", widen(ranges, CLICK_LOOKBACK, CLICK_WINDOW), params)
    return f"""
        SELECT query_id, hour, click_id, session_id, product_id, position, clicked_at
        FROM
        (
            SELECT query_id, event_id AS click_id, session_id, product_id, position, timestamp AS clicked_at
            FROM events
            WHERE event_type = 'click' AND {click_range}
                AND query_id IN (SELECT query_id FROM search_events WHERE {in_range})
        )
        ALL INNER JOIN
        (
            SELECT query_id, toStartOfHour(timestamp) AS hour, min(timestamp) AS started_at
            FROM search_events
            WHERE {in_range}
            GROUP BY query_id, hour
        ) USING query_id
        WHERE clicked_at >= started_at - {_CLICK_LOOKBACK_S} AND clicked_at < started_at + {_CLICK_WINDOW_S}"""


def _click_summary(ranges: Sequence[Range], params: Params) -> str:
    """Per search: its clicks, their positions, and whether a clicked product was added to cart or bought in time."""
    clicks = _search_clicks(ranges, params)
    conversion_range = time_condition(
        "timestamp", widen(ranges, CLICK_LOOKBACK, CLICK_WINDOW + CONVERSION_WINDOW), params
    )
    # A click joins every conversion of its product in its session (or none,
    # with defaults), so the flags are taken per click before clicks are counted.
    per_click = f"""
        SELECT
            query_id,
            hour,
            click_id,
            any(position) AS click_position,
            max(conversion_type = 'add_to_cart' AND in_window) AS carted,
            max(conversion_type = 'purchase' AND in_window) AS bought
        FROM
        (
            SELECT query_id, hour, click_id, position, conversion_type,
                converted_at >= clicked_at AND converted_at < clicked_at + {_CONVERSION_WINDOW_S} AS in_window
            FROM ({clicks})
            ALL LEFT JOIN
            (
                SELECT session_id, product_id, toString(event_type) AS conversion_type, timestamp AS converted_at
                FROM events
                WHERE event_type IN ('add_to_cart', 'purchase') AND session_id != '' AND {conversion_range}
            ) USING (session_id, product_id)
        )
        GROUP BY query_id, hour, click_id"""
    return f"""
        SELECT
            query_id,
            hour,
            count() AS click_count,
            sum(click_position) AS position_sum,
            groupArray(click_position) AS positions,
            max(carted) AS with_add_to_cart,
            max(bought) AS with_purchase
        FROM ({per_click})
        GROUP BY query_id, hour"""


def search_facts(ranges: Sequence[Range], params: Params) -> str:
    """Select one row per counted search started in ranges, with its clicks and conversions."""
    groups = search_groups(time_condition("timestamp", ranges, params))
    clicks = _click_summary(ranges, params)
    typed_on = _typed_on(ranges, params)
    return f"""
        SELECT *
        FROM
        (
            SELECT *
            FROM ({groups})
            ANY LEFT JOIN ({clicks}) USING (query_id, hour)
        )
        ANY LEFT JOIN ({typed_on}) USING (query_id, hour)
        WHERE NOT (typed_on = 1 AND click_count = 0)"""


def attributed_conversions(ranges: Sequence[Range], params: Params) -> str:
    """Add-to-cart and purchase events in ranges that follow a search click on the same product.

    The click must be in the same session, carry a query_id and come at most
    24 hours before the event. Each event counts once however many clicks precede it.
    """
    in_range = time_condition("timestamp", ranges, params)
    click_range = time_condition("timestamp", widen(ranges, CONVERSION_WINDOW, timedelta(0)), params)
    return f"""
        SELECT
            event_id,
            any(conversion_type) AS event_type,
            any(conversion_time) AS converted_at,
            any(event_quantity) AS quantity,
            any(event_price) AS price,
            any(if(conversion_type = 'purchase', event_currency, '')) AS revenue_currency
        FROM
        (
            SELECT event_id, toString(event_type) AS conversion_type, session_id, product_id,
                timestamp AS conversion_time, quantity AS event_quantity, price AS event_price,
                currency AS event_currency
            FROM events
            WHERE event_type IN ('add_to_cart', 'purchase') AND session_id != '' AND {in_range}
        )
        ALL INNER JOIN
        (
            SELECT session_id, product_id, timestamp AS clicked_at
            FROM events
            WHERE event_type = 'click' AND query_id != '' AND session_id != '' AND {click_range}
        ) USING (session_id, product_id)
        WHERE clicked_at <= conversion_time AND conversion_time < clicked_at + {_CONVERSION_WINDOW_S}
        GROUP BY event_id"""


def product_events(ranges: Sequence[Range], params: Params, product_id: str | None = None) -> str:
    """Raw interaction events in ranges, optionally of one product."""
    condition = time_condition("timestamp", ranges, params)
    if product_id is not None:
        condition += f" AND product_id = {params.add(product_id)}"
    return f"""
        SELECT timestamp, product_id, toString(event_type) AS event_type, quantity, price,
            if(event_type = 'purchase', currency, '') AS revenue_currency
        FROM events
        WHERE {condition}"""
