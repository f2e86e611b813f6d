"""The pure query builders of storage.search: no server involved."""

from __future__ import annotations

import json

from storage.search import (
    MAX_QUERY_TERMS,
    MAX_RESULT_WINDOW,
    SearchRequest,
    build_search_body,
    build_suggest_body,
    clean_query,
    deepest_page,
    highlight_name,
    query_terms,
)


def test_clean_query_replaces_control_characters():
    assert clean_query("a\x00b\tc\u200fd\n ") == "a b c d"
    assert clean_query("\x01\x02") == ""


def test_query_terms_are_folded_stemmed_and_distinct():
    assert query_terms("Running SHOES running shoe") == ["run", "shoe"]
    assert query_terms("Crème Brûlée") == ["creme", "brule"]


def test_query_terms_are_capped():
    terms = query_terms(" ".join(f"w{i}" for i in range(100)))
    assert len(terms) == MAX_QUERY_TERMS
    assert terms[0] == "w0"


def test_deepest_page_follows_result_window():
    assert deepest_page(20) == MAX_RESULT_WINDOW // 20
    assert deepest_page(MAX_RESULT_WINDOW * 2) == 1


def test_user_text_never_becomes_query_syntax():
    text = 'name:x AND (y OR "z") \\ /re/ *'
    body = json.dumps(build_search_body(SearchRequest(q=text)))
    assert "query_string" not in body
    assert "simple_query_string" not in body
    assert "regexp" not in body
    assert "wildcard" not in body


def test_empty_query_browses_by_popularity():
    body = build_search_body(SearchRequest())
    assert body["query"]["bool"]["must"] == [{"match_all": {}}]
    assert body["sort"][0] == {"popularity": "desc"}
    assert "highlight" not in body
    assert "post_filter" not in body


def test_facet_filters_go_to_post_filter():
    body = build_search_body(SearchRequest(q="shoe", brands=("Nike",), categories=("sport",), min_price=10))
    post = body["post_filter"]["bool"]["filter"]
    assert {"terms": {"brand.keyword": ["Nike"]}} in post
    assert {"terms": {"category_path": ["sport"]}} in post
    assert {"range": {"price": {"gte": 10}}} in post
    # Each facet's aggregation is narrowed by the other facets' filters only.
    brand_filter = body["aggs"]["brand"]["filter"]["bool"]["filter"]
    assert {"terms": {"brand.keyword": ["Nike"]}} not in brand_filter
    assert {"terms": {"category_path": ["sport"]}} in brand_filter


def test_in_stock_narrows_query_not_post_filter():
    body = build_search_body(SearchRequest(in_stock=True))
    assert body["query"]["bool"]["filter"] == [{"term": {"in_stock": True}}]
    assert "post_filter" not in body


def test_page_sets_from_and_size():
    body = build_search_body(SearchRequest(page=3, page_size=25))
    assert body["from"] == 50
    assert body["size"] == 25


def test_highlight_name_marks_folded_stems():
    assert highlight_name("Crème Brûlée Torch", ["creme", "brule"]) == "<em>Crème</em> <em>Brûlée</em> Torch"
    assert highlight_name("Running Shoes", ["shoe"]) == "Running <em>Shoes</em>"
    assert highlight_name("Samsung Galaxy S24", ["galax"]) == "Samsung <em>Galaxy</em> S24"
    assert highlight_name("Yoga Mat", ["shoe"]) is None


def test_highlight_name_escapes_html():
    assert highlight_name("<b>Knife</b> & Fork", ["knife"]) == "&lt;b&gt;<em>Knife</em>&lt;/b&gt; &amp; Fork"


def test_suggest_body_folds_prefix():
    body = build_suggest_body("  Crème\x00 ")
    assert body["suggest"]["exact"]["prefix"] == "creme"
    assert "fuzzy" not in body["suggest"]["exact"]["completion"]
    assert body["suggest"]["fuzzy"]["completion"]["fuzzy"]["fuzziness"] == 1
