"""Simulated shopper sessions against the running API, over HTTP like a shop front-end."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import requests

from replay.queries import QuerySampler
from storage.text_analysis import normalize_query


@dataclass
class Rates:
    """Probabilities of what a shopper does; all configurable on the command line."""

    searches_per_session: tuple[int, int] = (1, 4)
    next_page: float = 0.10
    brand_filter: float = 0.15
    # Chance of clicking the result at position 1; position p gets click / p**decay.
    click: float = 0.45
    click_decay: float = 0.9
    add_to_cart: float = 0.25
    purchase: float = 0.4  # of the products added to the cart
    view_without_search: float = 0.2
    user_share: float = 0.3  # sessions with a logged-in user id


@dataclass
class Report:
    """What the replayer sent and what the API returned."""

    sessions: int = 0
    searches: int = 0
    search_errors: int = 0
    zero_result_searches: int = 0
    events_accepted: Counter = field(default_factory=Counter)
    event_errors: int = 0
    queries: Counter = field(default_factory=Counter)
    revenue: dict[str, Decimal] = field(default_factory=dict)
    # Every successful search in order: (session_id, normalized query, query_id, total).
    search_log: list[tuple[str, str, str, int]] = field(default_factory=list)
    clicked_query_ids: set[str] = field(default_factory=set)

    def as_dict(self, top: int = 10) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "searches": self.searches,
            "search_errors": self.search_errors,
            "zero_result_searches": self.zero_result_searches,
            "events_accepted": dict(self.events_accepted),
            "event_errors": self.event_errors,
            "top_queries": self.queries.most_common(top),
            "revenue": {currency: str(amount) for currency, amount in self.revenue.items()},
        }


class RateLimiter:
    """Spaces requests evenly at `per_second` (0 means no limit); shared by threads."""

    def __init__(self, per_second: float):
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


class Replayer:
    def __init__(self, base_url: str, queries: QuerySampler, *, api_key: str = "", search_key: str = "",
                 rates: Rates | None = None, seed: int = 42, per_second: float = 50.0, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.queries = queries
        self.rates = rates or Rates()
        self.seed = seed
        self.limiter = RateLimiter(per_second)
        self.timeout = timeout
        self.ingest_headers = {"X-API-Key": api_key} if api_key else {}
        self.search_headers = {"X-API-Key": search_key} if search_key else {}
        self.report = Report()
        self._lock = threading.Lock()

    def run_session(self, number: int, http: requests.Session) -> None:
        """Play one shopper session; the seed and session number fix every choice."""
        rng = random.Random(f"{self.seed}:{number}")
        session_id = str(uuid.UUID(int=rng.getrandbits(128)))
        user_id = f"user-{rng.randrange(10_000)}" if rng.random() < self.rates.user_share else ""
        headers = {"X-Session-Id": session_id, **({"X-User-Id": user_id} if user_id else {}), **self.search_headers}
        events: list[dict[str, Any]] = []
        common = {"session_id": session_id, **({"user_id": user_id} if user_id else {})}

        for _ in range(rng.randint(*self.rates.searches_per_session)):
            query = self.queries.sample(rng)
            result = self._search(http, headers, {"q": query}, session_id)
            if result is None:
                continue
            if result["hits"] and rng.random() < self.rates.brand_filter:
                brands = [b["value"] for b in result.get("facets", {}).get("brand", [])[:5] if b.get("value")]
                if brands:
                    brand_params = {"q": query, "brand": rng.choice(brands)}
                    result = self._search(http, headers, brand_params, session_id) or result
            if result["total"] > len(result["hits"]) and rng.random() < self.rates.next_page:
                result = self._search(http, headers, {"q": query, "page": 2}, session_id) or result
            events.extend(self._interact(rng, result, common))

        if rng.random() < self.rates.view_without_search and events:
            events.append({**common, "type": "view", "product_id": events[0]["product_id"]})

        self._send_events(http, events)
        with self._lock:
            self.report.sessions += 1

    def _search(self, http: requests.Session, headers: dict, params: dict, session_id: str) -> dict | None:
        self.limiter.wait()
        try:
            response = http.get(f"{self.base_url}/api/v1/search", params=params, headers=headers, timeout=self.timeout)
        except requests.RequestException:
            response = None
        with self._lock:
            if response is None or response.status_code != 200:
                self.report.search_errors += 1
                return None
            body = response.json()
            self.report.searches += 1
            self.report.queries[normalize_query(params["q"])] += 1
            self.report.search_log.append((session_id, normalize_query(params["q"]), body["query_id"], body["total"]))
            if body["total"] == 0:
                self.report.zero_result_searches += 1
        return body

    def _interact(self, rng: random.Random, result: dict, common: dict) -> list[dict[str, Any]]:
        events = []
        for hit in result["hits"]:
            # The rank over all pages, which is what a click reports.
            position = hit["position"]
            chance = self.rates.click / position ** self.rates.click_decay
            if rng.random() >= chance:
                continue
            product_id = hit["id"]
            events.append({**common, "type": "click", "product_id": product_id,
                           "query_id": result["query_id"], "position": position})
            events.append({**common, "type": "view", "product_id": product_id})
            if rng.random() >= self.rates.add_to_cart or hit.get("price_exact") is None:
                continue
            quantity = rng.choice((1, 1, 1, 2, 3))
            events.append({**common, "type": "add_to_cart", "product_id": product_id, "quantity": quantity})
            if rng.random() < self.rates.purchase:
                events.append({**common, "type": "purchase", "product_id": product_id, "quantity": quantity,
                               "price": hit["price_exact"], "currency": hit.get("currency") or "USD",
                               "order_id": f"order-{rng.getrandbits(48):012x}"})
        return events

    def _send_events(self, http: requests.Session, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        stamp = datetime.now(timezone.utc)
        for event in events:
            event.setdefault("timestamp", stamp.isoformat())
        self.limiter.wait()
        try:
            response = http.post(f"{self.base_url}/api/v1/events", json={"events": events},
                                 headers=self.ingest_headers, timeout=self.timeout)
            accepted = response.status_code == 202
        except requests.RequestException:
            accepted = False
        with self._lock:
            if not accepted:
                self.report.event_errors += len(events)
                return
            for event in events:
                self.report.events_accepted[event["type"]] += 1
                if event["type"] == "click":
                    self.report.clicked_query_ids.add(event["query_id"])
                if event["type"] == "purchase":
                    amount = Decimal(event["price"]) * event["quantity"]
                    self.report.revenue[event["currency"]] = self.report.revenue.get(event["currency"], Decimal(0)) + amount


def backfill_events(products: list[dict[str, Any]], *, days: int, sessions: int, seed: int,
                    now: datetime | None = None) -> list[dict[str, Any]]:
    """Build timestamped view, click, cart and purchase events over the `days` before today.

    `products` are dicts with id, price and currency. Searches cannot be
    backfilled (a search event comes from a real search), so clicks carry a
    query_id that no search has. Event ids derive from the seed, so sending the
    same backfill twice stores it once.
    """
    rng = random.Random(seed)
    # Anchored to midnight UTC, so runs on the same day build the same events
    # (ids and times), which the service stores once.
    end = (now or datetime.now(timezone.utc)).replace(hour=0, minute=0, second=0, microsecond=0)
    events = []
    for number in range(sessions):
        session_id = f"backfill-{seed}-{number}"
        start = end - timedelta(seconds=rng.uniform(600, days * 86400))
        for step in range(rng.randint(1, 6)):
            product = rng.choice(products)
            at = (start + timedelta(seconds=20 * step)).isoformat()
            base = {"session_id": session_id, "product_id": product["id"], "timestamp": at}
            step_events = [{**base, "type": "view"}]
            if rng.random() < 0.3:
                step_events.append({**base, "type": "click", "query_id": f"backfill-{seed}-{number}-{step}",
                                    "position": rng.randint(1, 10)})
            if rng.random() < 0.1 and product.get("price") is not None:
                step_events.append({**base, "type": "add_to_cart", "quantity": 1})
                if rng.random() < 0.4:
                    step_events.append({**base, "type": "purchase", "quantity": 1, "price": str(product["price"]),
                                        "currency": product.get("currency") or "USD",
                                        "order_id": f"backfill-{seed}-{number}-{step}"})
            for event in step_events:
                name = f"backfill:{seed}:{number}:{step}:{event['type']}"
                event["event_id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
            events.extend(step_events)
    return events
