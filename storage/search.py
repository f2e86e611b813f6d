"""Product search on Elasticsearch: pure query builders, and their execution.

The builders turn a SearchRequest into the body of a search API request, and
a raw response into a SearchResult. They touch no server, so tests and the
benchmark can send the very same body straight to Elasticsearch. User text is
only placed in match-style queries and is never parsed as query syntax.
"""

from __future__ import annotations

import html
import logging
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from elasticsearch import ApiError, TransportError, helpers

from storage import clients
from storage.errors import StorageError, StorageUnavailable
from storage.search_index import INDEX_SETTINGS
from storage.text_analysis import analyze, fold

logger = logging.getLogger(__name__)

# A word as storage.text_analysis tokenizes it: letters and digits of any script.
_WORD = re.compile(r"[^\W_]+")

SORTS = ("relevance", "price_asc", "price_desc", "newest", "rating", "popularity")

# Longer texts are rejected with 422: no shopper types more, and each word
# becomes a clause of the query.
MAX_QUERY_LENGTH = 500
# Distinct words of a query that take part in matching; later ones are dropped.
MAX_QUERY_TERMS = 32
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
# Elasticsearch refuses from + size beyond the index's max_result_window.
MAX_RESULT_WINDOW: int = INDEX_SETTINGS["index"]["max_result_window"]

MAX_SUGGESTIONS = 10

# Searchable analyzed fields and their boosts: a word in the name counts more
# than the same word in the brand, the category path or the description.
TEXT_FIELDS = ("name_analyzed^3", "brand_analyzed^2", "category_analyzed^1.5", "description_analyzed^1")

# Price facet buckets: (key, from, to); `to` is exclusive, None is open-ended.
PRICE_RANGES: tuple[tuple[str, float | None, float | None], ...] = (
    ("0-25", None, 25),
    ("25-50", 25, 50),
    ("50-100", 50, 100),
    ("100-250", 100, 250),
    ("250-500", 250, 500),
    ("500-1000", 500, 1000),
    ("1000+", 1000, None),
)
CATEGORY_FACET_SIZE = 50
BRAND_FACET_SIZE = 30

_SOURCE_FIELDS = [
    "id", "name", "brand", "price", "price_exact", "currency", "in_stock", "stock_quantity",
    "rating", "review_count", "category_id", "category_path", "category_names", "image_url",
    "created_at", "popularity",
]

_SORT_CLAUSES: dict[str, list[Any]] = {
    "relevance": ["_score", {"popularity": "desc"}, {"id": "asc"}],
    "price_asc": [{"price": {"order": "asc", "missing": "_last"}}, {"id": "asc"}],
    "price_desc": [{"price": {"order": "desc", "missing": "_last"}}, {"id": "asc"}],
    "newest": [{"created_at": {"order": "desc", "missing": "_last"}}, {"id": "asc"}],
    "rating": [
        {"rating": {"order": "desc", "missing": "_last"}},
        {"review_count": "desc"},
        {"id": "asc"},
    ],
    "popularity": [{"popularity": "desc"}, "_score", {"id": "asc"}],
}


class SearchRejected(StorageError):
    """Elasticsearch rejected a search as invalid (HTTP 400): a client problem, not an outage."""


@dataclass(frozen=True)
class SearchRequest:
    """A validated product search; lists hold the selected facet values (OR within a facet)."""

    q: str = ""
    categories: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    min_price: float | None = None
    max_price: float | None = None
    in_stock: bool | None = None
    sort: str = "relevance"
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE


@dataclass
class SearchResult:
    """The hits and facets of one search, ready for the response."""

    total: int
    hits: list[dict[str, Any]]
    facets: dict[str, list[dict[str, Any]]]
    es_took_ms: int
    timed_out: bool = False


def deepest_page(page_size: int) -> int:
    """Return the last page number whose results lie inside the result window."""
    return max(1, MAX_RESULT_WINDOW // page_size)


def clean_query(text: str) -> str:
    """Replace control and other invisible format characters by spaces and trim."""
    cleaned = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)
    return " ".join(cleaned.split())


def query_terms(text: str) -> list[str]:
    """Return the distinct analyzed terms of a query, in order, at most MAX_QUERY_TERMS."""
    terms: list[str] = []
    for term in analyze(text).split():
        if term not in terms:
            terms.append(term)
    return terms[:MAX_QUERY_TERMS]


def build_text_query(text: str) -> dict[str, Any]:
    """Build the full-text part of a search for cleaned, non-empty user text.

    Each analyzed term must match one of the fields, with typo tolerance. A
    query of up to three terms needs all of them, a longer one 75%. Phrase
    matches and exact matches of all terms add to the score. Text with no letter or digit
    (emoji, punctuation) is matched as is against the standard-analyzed name.
    """
    terms = query_terms(text)
    if not terms:
        return {"match": {"name": {"query": text, "operator": "and"}}}

    analyzed = " ".join(terms)
    per_term = [
        {
            "multi_match": {
                "query": term,
                "fields": list(TEXT_FIELDS),
                "fuzziness": "AUTO",
                "prefix_length": 1,
                "max_expansions": 20,
                "tie_breaker": 0.2,
            }
        }
        for term in terms
    ]
    matching = {"bool": {"should": per_term, "minimum_should_match": "3<75%"}}
    # The original text on the standard-analyzed name catches what the
    # folding step splits differently (CJK runs are single terms there).
    original = {"match": {"name": {"query": text[:MAX_QUERY_LENGTH], "operator": "and"}}}

    return {
        "bool": {
            "must": [{"bool": {"should": [matching, original], "minimum_should_match": 1}}],
            "should": [
                {"multi_match": {"query": analyzed, "fields": list(TEXT_FIELDS), "type": "cross_fields",
                                 "operator": "and", "boost": 2}},
                {"match_phrase": {"name_analyzed": {"query": analyzed, "slop": 1, "boost": 4}}},
                {"match_phrase": {"description_analyzed": {"query": analyzed, "slop": 2}}},
            ],
        }
    }


def build_facet_filters(request: SearchRequest) -> dict[str, dict[str, Any]]:
    """Return the filter of each facet that has a selection, keyed by facet name."""
    filters: dict[str, dict[str, Any]] = {}
    if request.categories:
        filters["category"] = {"terms": {"category_path": list(request.categories)}}
    if request.brands:
        filters["brand"] = {"terms": {"brand.keyword": list(request.brands)}}
    if request.min_price is not None or request.max_price is not None:
        bounds: dict[str, float] = {}
        if request.min_price is not None:
            bounds["gte"] = request.min_price
        if request.max_price is not None:
            bounds["lte"] = request.max_price
        filters["price"] = {"range": {"price": bounds}}
    return filters


def build_facet_aggregations(facet_filters: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Build one filter aggregation per facet, narrowed by every facet filter but its own.

    The facet filters go to post_filter, so hits honour all of them while each
    facet still counts the values a shopper could add to a multi-select.
    """
    inner = {
        "category": {
            "terms": {"field": "category_path", "size": CATEGORY_FACET_SIZE},
            "aggs": {"path": {"top_hits": {"size": 1, "_source": ["category_path", "category_names"]}}},
        },
        "brand": {"terms": {"field": "brand.keyword", "size": BRAND_FACET_SIZE}},
        "price": {"range": {"field": "price", "keyed": False, "ranges": [_price_range(*r) for r in PRICE_RANGES]}},
    }
    aggregations = {}
    for name, aggregation in inner.items():
        others = [f for other, f in facet_filters.items() if other != name]
        aggregations[name] = {
            "filter": {"bool": {"filter": others}} if others else {"match_all": {}},
            "aggs": {"values": aggregation},
        }
    return aggregations


def _price_range(key: str, low: float | None, high: float | None) -> dict[str, Any]:
    bucket: dict[str, Any] = {"key": key}
    if low is not None:
        bucket["from"] = low
    if high is not None:
        bucket["to"] = high
    return bucket


def build_search_body(request: SearchRequest) -> dict[str, Any]:
    """Build the search API body of a request: query, post_filter, facets, sort, page, highlight."""
    text = clean_query(request.q)
    facet_filters = build_facet_filters(request)

    # in_stock has no facet, so it narrows hits and facets alike.
    plain_filters = [{"term": {"in_stock": request.in_stock}}] if request.in_stock is not None else []
    scoring = build_text_query(text) if text else {"match_all": {}}
    query = {"bool": {"must": [scoring], "filter": plain_filters}}

    sort = _SORT_CLAUSES[request.sort]
    if not text and request.sort == "relevance":
        # Browsing without text has no relevance; show popular products first.
        sort = _SORT_CLAUSES["popularity"]

    body: dict[str, Any] = {
        "query": query,
        "aggs": build_facet_aggregations(facet_filters),
        "sort": sort,
        "from": (request.page - 1) * request.page_size,
        "size": request.page_size,
        "track_total_hits": True,
        "_source": _SOURCE_FIELDS,
    }
    if facet_filters:
        body["post_filter"] = {"bool": {"filter": list(facet_filters.values())}}
    if text:
        body["highlight"] = build_highlight(text)
    return body


def build_highlight(text: str) -> dict[str, Any]:
    """Highlight the description: the words as typed, and words that start with a query stem.

    The name is highlighted in Python (highlight_name) instead, where folding
    and stemming catch accents and plurals. Fuzzy highlight queries did that
    too but multiplied the search's time on the Best Buy catalog.
    """
    stems = [{"prefix": {"description": term}} for term in query_terms(text) if len(term) >= 3]
    return {
        "encoder": "html",
        "pre_tags": ["<em>"],
        "post_tags": ["</em>"],
        "highlight_query": {"bool": {"should": [{"match": {"description": text}}, *stems]}},
        "fields": {"description": {"fragment_size": 160, "number_of_fragments": 2}},
    }


@lru_cache(maxsize=100_000)
def _word_stems(word: str) -> tuple[str, ...]:
    # Product names repeat across searches, so their words are analyzed once.
    return tuple(analyze(word).split())


def highlight_name(name: str, terms: list[str]) -> str | None:
    """Return the name, HTML-escaped, with <em> around each word matching a query term; None if none does.

    A word matches when its folded stem equals a term or, for terms of three
    characters or more, starts with it (so "galax" marks "Galaxy").
    """
    if not terms:
        return None
    wanted = set(terms)
    prefixes = tuple(term for term in terms if len(term) >= 3)
    parts: list[str] = []
    position = 0
    marked = False
    for word in _WORD.finditer(name):
        stems = _word_stems(word.group())
        if any(stem in wanted or (prefixes and stem.startswith(prefixes)) for stem in stems):
            parts.append(html.escape(name[position:word.start()]))
            parts.append(f"<em>{html.escape(word.group())}</em>")
            position = word.end()
            marked = True
    if not marked:
        return None
    parts.append(html.escape(name[position:]))
    return "".join(parts)


def build_suggest_body(prefix: str, size: int = MAX_SUGGESTIONS) -> dict[str, Any]:
    """Build a completion-suggester body for product names starting with a prefix.

    Exact prefix matches and typo-tolerant ones are asked for separately in
    the same request, so the typo-tolerant ones can serve as a fallback.
    """
    folded = fold(clean_query(prefix))[:100]
    completion = {"field": "suggest", "size": size, "skip_duplicates": True}
    return {
        "_source": ["id", "name"],
        "suggest": {
            "exact": {"prefix": folded, "completion": completion},
            "fuzzy": {
                "prefix": folded,
                "completion": {**completion, "fuzzy": {"fuzziness": 1, "min_length": 4, "prefix_length": 1}},
            },
        },
    }


def parse_search_response(raw: dict[str, Any], request: SearchRequest) -> SearchResult:
    """Turn a raw search response into hits with highlights and facet value lists."""
    terms = query_terms(clean_query(request.q))
    hits = []
    for hit in raw["hits"]["hits"]:
        document = dict(hit["_source"])
        document["score"] = hit.get("_score")
        highlight = dict(hit.get("highlight", {}))
        name = highlight_name(document.get("name") or "", terms)
        if name is not None:
            highlight["name"] = [name]
        document["highlight"] = highlight
        hits.append(document)

    aggregations = raw.get("aggregations", {})
    facets = {
        "category": _category_facet(aggregations.get("category"), request.categories),
        "brand": _value_facet(aggregations.get("brand"), request.brands),
        "price": _price_facet(aggregations.get("price"), request),
    }
    return SearchResult(
        total=raw["hits"]["total"]["value"],
        hits=hits,
        facets=facets,
        es_took_ms=raw.get("took", 0),
        timed_out=raw.get("timed_out", False),
    )


def _buckets(aggregation: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not aggregation:
        return []
    return aggregation["values"]["buckets"]


def _category_facet(aggregation, selected: tuple[str, ...]) -> list[dict[str, Any]]:
    values = []
    for bucket in _buckets(aggregation):
        category_id = bucket["key"]
        source = bucket["path"]["hits"]["hits"][0]["_source"] if bucket["path"]["hits"]["hits"] else {}
        path, names = source.get("category_path") or [], source.get("category_names") or []
        name = names[path.index(category_id)] if category_id in path and len(names) == len(path) else category_id
        values.append({"id": category_id, "name": name, "count": bucket["doc_count"],
                       "depth": path.index(category_id) if category_id in path else 0,
                       "selected": category_id in selected})
    return values


def _value_facet(aggregation, selected: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        {"value": bucket["key"], "count": bucket["doc_count"], "selected": bucket["key"] in selected}
        for bucket in _buckets(aggregation)
    ]


def _price_facet(aggregation, request: SearchRequest) -> list[dict[str, Any]]:
    values = []
    for bucket in _buckets(aggregation):
        low, high = bucket.get("from"), bucket.get("to")
        values.append({"key": bucket["key"], "from": low, "to": high, "count": bucket["doc_count"]})
    return values


def search(alias: str, request: SearchRequest) -> SearchResult:
    """Run a product search on the index behind `alias` with the web client."""
    body = build_search_body(request)
    raw = _execute("search", lambda es: es.search(index=alias, body=body))
    return parse_search_response(raw, request)


def suggest_names(alias: str, prefix: str, size: int = MAX_SUGGESTIONS) -> list[dict[str, str]]:
    """Return up to `size` products whose name (or a later word of it) starts with the prefix.

    Names with one typo in the prefix are returned only when no name starts
    with the exact prefix, so a correct prefix is not diluted by near misses.
    """
    body = build_suggest_body(prefix, size)
    if not body["suggest"]["exact"]["prefix"].strip():
        return []
    raw = _execute("suggest", lambda es: es.search(index=alias, body=body))

    options = raw["suggest"]["exact"][0]["options"] or raw["suggest"]["fuzzy"][0]["options"]
    return [{"id": option["_source"]["id"], "name": option["_source"]["name"]} for option in options]


def _execute(operation: str, call):
    """Call Elasticsearch, mapping its failures to the storage exceptions."""
    try:
        return call(clients.elastic(clients.WEB)).body
    except ApiError as exc:
        status = exc.status_code
        if status == 400:
            logger.warning("search_rejected operation=%s error=%s", operation, exc.message)
            raise SearchRejected(str(exc.message)) from exc
        if status == 404:
            raise StorageUnavailable("elasticsearch", "the search index does not exist") from exc
        if status in (429, 502, 503, 504):
            raise StorageUnavailable("elasticsearch", f"status {status}") from exc
        raise StorageError(f"elasticsearch {operation} failed with status {status}: {exc.message}") from exc
    except TransportError as exc:
        raise StorageUnavailable("elasticsearch", type(exc).__name__) from exc


def load_documents(alias: str, documents: list[dict[str, Any]], *, refresh: bool = True) -> int:
    """Index ready-built documents at their own version and return how many were indexed.

    Tests and benchmarks load fixture catalogs with it; the service itself
    indexes through storage.indexing from the catalog in ClickHouse.
    """
    actions = (
        {"_index": alias, "_id": document["id"], "version": document["version"] or 1,
         "version_type": "external_gte", "_source": document}
        for document in documents
    )
    es = clients.elastic(clients.TASK)
    try:
        indexed, _errors = helpers.bulk(es, actions, chunk_size=1000, max_retries=3)
        if refresh:
            es.indices.refresh(index=alias)
    except helpers.BulkIndexError as exc:
        raise StorageError(f"{len(exc.errors)} documents were rejected, first: {exc.errors[0]}") from exc
    except ApiError as exc:
        raise StorageError(f"loading documents failed with status {exc.status_code}: {exc.message}") from exc
    except TransportError as exc:
        raise StorageUnavailable("elasticsearch", type(exc).__name__) from exc
    return indexed
