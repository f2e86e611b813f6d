"""Tasks of the aggregation queue that feed search: product popularity and query suggestions."""

from __future__ import annotations

import logging

from storage import clients, popularity, query_suggestions
from tasks.celery_app import app

logger = logging.getLogger(__name__)


@app.task(name="aggregation.update_popularity", soft_time_limit=600, time_limit=660)
def update_popularity() -> dict:
    """Recompute each product's popularity from the last 30 days of events and copy it into the index."""
    outcome = popularity.update_popularity(clients.settings().elastic_index, tag="aggregation.update_popularity")
    logger.info("popularity_updated products=%d stored=%d updated=%d conflicts=%d missing=%d",
                outcome["products"], outcome["stored"], outcome["updated"], outcome["conflicts"],
                outcome["missing"])
    return outcome


@app.task(name="aggregation.refresh_query_suggestions", soft_time_limit=120, time_limit=180)
def refresh_query_suggestions() -> dict:
    """Recount popular past queries in ClickHouse and store them in Redis for suggest."""
    count = query_suggestions.refresh_popular_queries(tag="aggregation.refresh_query_suggestions")
    return {"queries": count}
