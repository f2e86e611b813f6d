"""A generated event set with the hard cases mixed in: type-ahead chains, resent
searches, pages across an hour boundary, late and out-of-window clicks,
conversions inside and outside the attribution window, two currencies."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

from storage.analytics import raw

QUERIES = ["iphone", "ipad", "tv", "laptop", "camera", "samsung galaxy", "usb cable", "headphones", "xyzzy"]
PRODUCTS = [f"p{number}" for number in range(1, 31)]
CATEGORIES = [("root-a", "A", ""), ("root-b", "B", ""), ("a-1", "A1", "root-a"), ("a-2", "A2", "root-a"),
              ("a-1-x", "A1X", "a-1"), ("b-1", "B1", "root-b")]


class EventSet:
    def __init__(self, seed: int, start: datetime, days: int, sessions: int):
        self.random = random.Random(seed)
        self.start = start
        self.seconds = days * 86400
        self.searches: list[dict] = []
        self.events: list[dict] = []
        self._ids = 0
        for number in range(sessions):
            self._session(f"s{number}")
        self._strays()

    def _id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids}"

    def _search(self, session: str, moment: datetime, query: str) -> dict:
        total = 0 if query == "xyzzy" or self.random.random() < 0.05 else self.random.randint(1, 500)
        row = dict(event_id=self._id("se"), query_id=self._id("q"), timestamp=moment, query=query, total=total,
                   took_ms=self.random.randint(3, 60), session_id=session)
        if self.random.random() < 0.3:
            name = self.random.choice(["brand", "color"])
            row["filter_names"], row["filter_values"] = [name], [self.random.choice(["acme", "red", "blue"])]
        self.searches.append(row)
        if self.random.random() < 0.1:
            # A resent search or its second page: another row of the same query_id.
            later = moment + timedelta(seconds=self.random.randint(1, 400))
            self.searches.append({**row, "event_id": self._id("se"), "timestamp": later, "page": 2,
                                  "took_ms": self.random.randint(3, 60)})
        return row

    def _session(self, session: str) -> None:
        moment = self.start + timedelta(seconds=self.random.uniform(0, self.seconds), milliseconds=0)
        for _ in range(self.random.randint(1, 5)):
            query = self.random.choice(QUERIES)
            if self.random.random() < 0.3:
                # Type-ahead: growing prefixes a few seconds apart, the last one complete.
                for length in range(2, len(query), 2):
                    self._search(session, moment, query[:length])
                    moment += timedelta(milliseconds=self.random.randint(300, 35_000))
            search = self._search(session, moment, query)
            if search["total"]:
                self._clicks(session, search, moment)
            moment += timedelta(seconds=self.random.randint(5, 4000))

    def _clicks(self, session: str, search: dict, moment: datetime) -> None:
        for _ in range(self.random.choice([0, 0, 1, 1, 2, 3])):
            delay = self.random.choice([5, 30, 200, 3 * 3600, 30 * 3600, -600])
            clicked_at = moment + timedelta(seconds=delay + self.random.randint(0, 50))
            product = self.random.choice(PRODUCTS)
            self.events.append(dict(event_id=self._id("ev"), event_type="click", timestamp=clicked_at,
                                    product_id=product, session_id=session, query_id=search["query_id"],
                                    position=self.random.randint(1, 20)))
            self._conversions(session, product, clicked_at)

    def _conversions(self, session: str, product: str, clicked_at: datetime) -> None:
        if self.random.random() < 0.5:
            self.events.append(dict(event_id=self._id("ev"), event_type="view", timestamp=clicked_at,
                                    product_id=product, session_id=session))
        for event_type, chance in (("add_to_cart", 0.4), ("purchase", 0.3)):
            if self.random.random() < chance:
                delay = self.random.choice([20, 600, 5000, 26 * 3600])
                self.events.append(dict(
                    event_id=self._id("ev"), event_type=event_type,
                    timestamp=clicked_at + timedelta(seconds=delay), product_id=product, session_id=session,
                    quantity=self.random.randint(1, 3), currency=self.random.choice(["EUR", "USD"]),
                    price=Decimal(self.random.randint(1, 99_999)) / Decimal(100 if self.random.random() < 0.5 else 10_000),
                ))

    def _strays(self) -> None:
        # Views and purchases with no search behind them.
        for _ in range(200):
            moment = self.start + timedelta(seconds=self.random.uniform(0, self.seconds))
            event_type = self.random.choice(["view", "view", "purchase"])
            self.events.append(dict(event_id=self._id("ev"), event_type=event_type, timestamp=moment,
                                    product_id=self.random.choice(PRODUCTS + ["unknown-product"]),
                                    session_id=self._id("stray"), quantity=1, currency="EUR", price=Decimal("0.1")))

    def insert(self, client) -> None:
        raw.insert_searches(client, [raw.search_row(row) for row in self.searches])
        raw.insert_events(client, [raw.event_row(row) for row in self.events])
        client.insert("categories", ("id", "name", "parent_id", "version", "deleted"),
                      [(cid, name, parent, 1, 0) for cid, name, parent in CATEGORIES], tag="tests.analytics")
        leaves = [cid for cid, _name, _parent in CATEGORIES]
        catalog = [(pid, self.random.choice(leaves), 1, 0) for pid in PRODUCTS[:25]]
        client.insert("products", ("id", "category_id", "version", "deleted"), catalog, tag="tests.analytics")
