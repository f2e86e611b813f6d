"""The whole job on real data: import a real catalog, replay shopper traffic over
HTTP, wait for the pipeline, and check the analytics against what was sent."""

from __future__ import annotations

from collections import Counter

import pytest
import requests

pytestmark = pytest.mark.slow


def _analytics(stack, token: str, path: str, **params):
    response = requests.get(f"{stack.base_url}/api/v1/analytics{path}", params=params,
                            headers={"X-API-Key": token}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _counted_searches(report) -> Counter:
    """Apply the documented type-ahead rule independently of the service.

    A search followed in its session by one that extends its query within 30 s
    is noise unless it got a click. Every replayed session is shorter than 30 s.
    """
    by_session: dict[str, list[tuple[str, str]]] = {}
    for session_id, query, query_id, _total in report.search_log:
        by_session.setdefault(session_id, []).append((query, query_id))
    counted = Counter()
    for searches in by_session.values():
        for index, (query, query_id) in enumerate(searches):
            following = searches[index + 1][0] if index + 1 < len(searches) else None
            noise = (following is not None and len(following) > len(query) and following.startswith(query)
                     and query_id not in report.clicked_query_ids)
            if not noise:
                counted[query] += 1
    return counted


def _product_metric_total(stack, token: str, metric: str, window: dict) -> int:
    total, offset = 0, 0
    while True:
        page = _analytics(stack, token, "/products/top", metric=metric, limit=1000, offset=offset, **window)
        total += sum(item[metric] for item in page["items"])
        if len(page["items"]) < 1000:
            return total
        offset += 1000


def test_event_counts_match_replayer(live_stack, live_token, replayed):
    report, window = replayed
    for event_type, metric in (("view", "views"), ("click", "clicks"), ("add_to_cart", "add_to_cart"),
                               ("purchase", "purchases")):
        assert _product_metric_total(live_stack, live_token, metric, window) == report.events_accepted[event_type], \
            event_type


def test_search_summary_matches_replayer(live_stack, live_token, replayed):
    report, window = replayed
    counted = _counted_searches(report)
    summary = _analytics(live_stack, live_token, "/search/summary", **window)
    assert summary["searches"] == sum(counted.values())
    assert summary["unique_queries"] == len(counted)
    assert summary["clicks"] == report.events_accepted["click"]


def test_top_queries_match_replayer(live_stack, live_token, replayed):
    report, window = replayed
    counted = _counted_searches(report)
    popular = _analytics(live_stack, live_token, "/search/popular", limit=10, **window)
    served = {item["query"]: item["searches"] for item in popular["items"]}
    for query, count in counted.most_common(5):
        assert served.get(query) == count, query
    assert [item["searches"] for item in popular["items"]] == sorted(counted.values(), reverse=True)[:10]
