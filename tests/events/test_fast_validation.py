"""The fast event check never accepts what EventSchema rejects, and loads what it accepts the same way."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from webapp.events.fast_validation import load_events
from webapp.events.schemas import EventSchema

NOW = datetime.now(timezone.utc)

# Values near each field's limits, valid and invalid, in the types JSON can carry.
TEXT = st.sampled_from(["", "a", "p-1", "x" * 128, "x" * 129, "has space", "-lead", "ü", "a:b.c_d-e"])
NUMBER = st.sampled_from([0, 1, 2, 65_535, 65_536, 2**32 - 1, 2**32, -1, True, 1.0, "1", None])
PRICE = st.sampled_from(["0", "19.99", "1.00001", "-1", "1e3", "99999999999999.9999", "100000000000000",
                         "NaN", " 1", 19.99, 5, None])
CURRENCY = st.sampled_from(["EUR", "eur", "EURO", "E1R", "", None])
TIMESTAMP = st.sampled_from([
    (NOW - timedelta(minutes=1)).isoformat(),
    (NOW - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    (NOW + timedelta(minutes=4)).isoformat(),
    (NOW + timedelta(minutes=6)).isoformat(),
    (NOW - timedelta(days=29)).isoformat(),
    (NOW - timedelta(days=31)).isoformat(),
    (NOW - timedelta(hours=1)).astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(),
    (NOW - timedelta(minutes=1)).replace(tzinfo=None).isoformat(),
    "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "yesterday", "", 1_700_000_000, None,
])
VALID_BASE = {
    "view": {"type": "view", "product_id": "p-1"},
    "click": {"type": "click", "product_id": "p-1", "query_id": "q-1", "position": 1},
    "add_to_cart": {"type": "add_to_cart", "product_id": "p-1", "quantity": 1},
    "purchase": {"type": "purchase", "product_id": "p-1", "quantity": 1, "price": "9.99",
                 "currency": "EUR", "order_id": "o-1"},
}
EDGE_VALUES = {
    "event_id": TEXT, "product_id": TEXT, "session_id": TEXT, "user_id": TEXT, "timestamp": TIMESTAMP,
    "query_id": TEXT, "position": NUMBER, "quantity": NUMBER, "price": PRICE, "currency": CURRENCY,
    "order_id": TEXT, "colour": TEXT, "type": st.sampled_from(["view", "click", "refund", 1]),
}


@st.composite
def events(draw):
    """A valid event of a random type with zero to three fields set to an edge value or removed."""
    event = dict(VALID_BASE[draw(st.sampled_from(sorted(VALID_BASE)))])
    for name in draw(st.lists(st.sampled_from(sorted(EDGE_VALUES)), max_size=3)):
        value = draw(EDGE_VALUES[name])
        if value is None:
            event.pop(name, None)
        else:
            event[name] = value
    return event


EVENT = events()

_schema = EventSchema()


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(EVENT)
def test_fast_check_agrees_with_schema(event):
    fast = load_events([event], NOW)
    if fast is None:
        return

    try:
        full = _schema.load(event)
    except ValidationError as exc:
        raise AssertionError(f"fast check accepted an event the schema rejects: {exc.messages}") from exc
    assert fast == [full]


def test_fast_check_accepts_plain_events():
    events = [
        {"type": "view", "product_id": "p-1", "timestamp": (NOW - timedelta(seconds=5)).isoformat()},
        {"type": "click", "product_id": "p-1", "query_id": "q", "position": 2, "event_id": "e-1"},
        {"type": "add_to_cart", "product_id": "p-1", "quantity": 3, "session_id": "s", "user_id": "u"},
        {"type": "purchase", "product_id": "p-1", "quantity": 1, "price": "9.99", "currency": "EUR",
         "order_id": "o-1"},
    ]

    loaded = load_events(events, NOW)

    assert loaded == [_schema.load(event) for event in events]


def test_fast_check_defers_odd_forms():
    assert load_events([{"type": "purchase", "product_id": "p", "quantity": 1, "price": 9.99,
                         "currency": "EUR", "order_id": "o"}], NOW) is None
    assert load_events("not a list", NOW) is None
    assert load_events([["view"]], NOW) is None
