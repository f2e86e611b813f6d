"""Real shopper queries with their popularity, read from the datasets folder."""

from __future__ import annotations

import csv
import json
import random
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

DEFAULT_DATASETS = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"
SUGGESTIONS_CSV = Path("algolia-bestbuy-query-suggestions") / "queries.csv"
ESCI_QUERIES = Path("amazon-esci-judgments") / "esci_us_queryset.json"


@dataclass(frozen=True)
class QuerySampler:
    """Draws queries in proportion to their popularity."""

    queries: tuple[str, ...]
    cumulative: tuple[float, ...]

    def sample(self, rng: random.Random) -> str:
        point = rng.random() * self.cumulative[-1]
        return self.queries[min(bisect_right(self.cumulative, point), len(self.queries) - 1)]


def load_queries(datasets: Path = DEFAULT_DATASETS) -> QuerySampler:
    """Load the query suggestions with popularity > 0 and, at weight 1, the ESCI queries.

    Raises FileNotFoundError naming the file when neither exists.
    """
    weighted: dict[str, float] = {}
    suggestions = datasets / SUGGESTIONS_CSV
    if suggestions.exists():
        with suggestions.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                popularity = int(row["popularity"] or 0)
                if popularity > 0 and row["query"].strip():
                    weighted[row["query"].strip()] = float(popularity)

    esci = datasets / ESCI_QUERIES
    if esci.exists():
        for item in json.loads(esci.read_text(encoding="utf-8"))["querySetQueries"]:
            weighted.setdefault(item["queryText"].strip(), 1.0)

    if not weighted:
        raise FileNotFoundError(
            f"no query file found: expected {suggestions} or {esci}; pass --datasets with the folder that has them"
        )
    queries = tuple(sorted(weighted))
    return QuerySampler(queries, tuple(accumulate(weighted[q] for q in queries)))
