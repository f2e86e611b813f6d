"""Search and product analytics over ClickHouse: summary tables and the reads they serve.

- tables: the summary tables (SUMMARY_TABLES lists every table holding
  derived data, for purges of raw events);
- refresh: fill, refresh and compact the summary tables;
- queries: the figures of each /api/v1/analytics endpoint;
- search_log: the streamed export of raw searches;
- raw: insert fixed event sets straight into the raw tables.
"""

from storage.analytics.tables import SUMMARY_TABLES

__all__ = ["SUMMARY_TABLES"]
