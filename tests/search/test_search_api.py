"""GET /api/v1/search against the known catalog of tests/search/conftest.py."""

from __future__ import annotations

import pytest

from storage.search import MAX_PAGE_SIZE, MAX_RESULT_WINDOW


def _search(client, **params):
    response = client.get("/api/v1/search", query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _ids(body) -> list[str]:
    return [hit["id"] for hit in body["hits"]]


def _facet(body, name, key="value") -> dict:
    return {entry[key]: entry["count"] for entry in body["facets"][name]}


def test_response_carries_contract_fields(search_client):
    body = _search(search_client, q="torch")
    assert set(body) >= {"query_id", "total", "hits", "facets", "took_ms", "page", "page_size", "pages"}
    assert len(body["query_id"]) == 32
    assert body["total"] == 1
    assert body["pages"] == 1
    assert isinstance(body["took_ms"], int)


def test_each_search_gets_new_query_id(search_client):
    first = _search(search_client, q="shoes")["query_id"]
    second = _search(search_client, q="shoes")["query_id"]
    assert first != second


def test_accents_do_not_hide_product(search_client):
    assert _ids(_search(search_client, q="creme brulee")) == ["p01"]


def test_plural_and_singular_match(search_client):
    singular = _ids(_search(search_client, q="running shoe"))
    assert singular[:2] == ["p04", "p05"] or singular[:2] == ["p05", "p04"]
    assert "p04" in _ids(_search(search_client, q="running shoes"))


def test_typo_is_tolerated(search_client):
    assert _ids(_search(search_client, q="skilet"))[0] == "p02"
    assert _ids(_search(search_client, q="espreso machin"))[0] == "p12"


def test_phrase_match_ranks_first(search_client):
    # Both products contain "running" and "shoe"; only p04's name has them as a phrase.
    assert _ids(_search(search_client, q="running shoes"))[0] == "p04"


def test_name_outranks_description(search_client):
    # "knife" is in p03's name; no other product mentions it.
    # "stainless steel" is in the descriptions of p03 and p12, in no name.
    body = _search(search_client, q="knife")
    assert _ids(body) == ["p03"]
    assert set(_ids(_search(search_client, q="stainless steel"))) == {"p03", "p12"}


def test_brand_and_category_words_match(search_client):
    assert set(_ids(_search(search_client, q="nike"))) == {"p04", "p10"}
    assert set(_ids(_search(search_client, q="kitchen"))) >= {"p01", "p02", "p03", "p12"}


def test_all_words_needed_for_short_query(search_client):
    assert _ids(_search(search_client, q="yoga torch")) == []


def test_highlight_marks_matched_words(search_client):
    hit = _search(search_client, q="creme brulee")["hits"][0]
    assert hit["highlight"]["name"] == ["<em>Crème</em> <em>Brûlée</em> Torch"]


def test_highlight_escapes_html(search_client):
    hit = _search(search_client, q="espresso")["hits"][0]
    fragment = " ".join(hit["highlight"]["description"])
    assert "&amp;" in fragment
    assert "<em>espresso</em>" in fragment.lower()


def test_empty_query_browses_everything(search_client):
    body = _search(search_client, page_size=50)
    assert body["total"] == 12
    # Browsing without text shows the most popular first.
    popularity = [hit["popularity"] for hit in body["hits"]]
    assert popularity == sorted(popularity, reverse=True)


def test_category_filter_includes_descendants(search_client):
    body = _search(search_client, category="sport", page_size=50)
    assert set(_ids(body)) == {"p04", "p05", "p06", "p07", "p10"}
    assert set(_ids(_search(search_client, category="shoes"))) == {"p04", "p05", "p06"}
    assert _ids(_search(search_client, category="trail")) == ["p05"]


def test_several_brands_match_any(search_client):
    body = _search(search_client, brand=["Nike", "Teva"], page_size=50)
    assert set(_ids(body)) == {"p04", "p06", "p10"}


def test_price_range_is_inclusive(search_client):
    body = _search(search_client, min_price=39.5, max_price=54, page_size=50)
    assert set(_ids(body)) == {"p02", "p03", "p06", "p09"}


def test_in_stock_filter(search_client):
    in_stock = _search(search_client, in_stock="true", page_size=50)
    assert in_stock["total"] == 10
    assert all(hit["in_stock"] for hit in in_stock["hits"])
    assert set(_ids(_search(search_client, in_stock="false"))) == {"p03", "p06"}


def test_filters_combine_with_text(search_client):
    # "sole" is in the descriptions of p04 (89.00) and p05 (149.00).
    assert set(_ids(_search(search_client, q="sole"))) == {"p04", "p05"}
    body = _search(search_client, q="sole", category="shoes", max_price=100)
    assert _ids(body) == ["p04"]


def test_brand_facet_ignores_own_filter(search_client):
    body = _search(search_client, category="sport", brand="Nike")
    assert body["total"] == 2
    brands = _facet(body, "brand")
    # Other brands of the category stay listed, so a second one can be ticked.
    assert brands == {"Nike": 2, "Salomon": 1, "Teva": 1, "Manduka": 1}
    selected = [entry["value"] for entry in body["facets"]["brand"] if entry["selected"]]
    assert selected == ["Nike"]


def test_facets_narrowed_by_other_filters(search_client):
    body = _search(search_client, brand="Nike")
    # The category facet counts only Nike products; the brand facet counts all.
    categories = _facet(body, "category", key="id")
    assert categories == {"sport": 2, "shoes": 1}
    assert _facet(body, "brand")["Samsung"] == 1


def test_category_facet_has_names_and_depth(search_client):
    body = _search(search_client, q="shoe")
    entries = {entry["id"]: entry for entry in body["facets"]["category"]}
    assert entries["sport"]["name"] == "Sport"
    assert entries["sport"]["depth"] == 0
    assert entries["trail"]["name"] == "Trail Shoes"
    assert entries["trail"]["depth"] == 2


def test_price_facet_ignores_price_filter(search_client):
    body = _search(search_client, max_price=30)
    assert set(_ids(body)) == {"p01", "p10", "p11"}
    prices = _facet(body, "price", key="key")
    assert prices["0-25"] == 2
    assert prices["25-50"] == 4
    assert prices["1000+"] == 1
    assert sum(prices.values()) == 12


def test_text_query_narrows_facets(search_client):
    body = _search(search_client, q="running")
    assert _facet(body, "brand") == {"Nike": 2, "Salomon": 1}


@pytest.mark.parametrize(
    ("sort", "field", "descending"),
    [("price_asc", "price", False), ("price_desc", "price", True),
     ("newest", "created_at", True), ("popularity", "popularity", True)],
)
def test_sort_orders_hits(search_client, sort, field, descending):
    body = _search(search_client, sort=sort, page_size=50)
    values = [hit[field] for hit in body["hits"]]
    assert len(values) == 12
    assert values == sorted(values, reverse=descending)


def test_sort_by_rating_puts_unrated_last(search_client):
    body = _search(search_client, sort="rating", page_size=50)
    ratings = [hit["rating"] for hit in body["hits"]]
    assert ratings[-1] is None
    assert ratings[:-1] == sorted(ratings[:-1], reverse=True)
    assert ratings[0] == 4.9


def test_pages_do_not_overlap(search_client):
    seen = []
    for page in (1, 2, 3):
        body = _search(search_client, sort="price_asc", page=page, page_size=5)
        assert body["pages"] == 3
        seen += _ids(body)
        assert [hit["position"] for hit in body["hits"]] == list(range((page - 1) * 5 + 1, (page - 1) * 5 + 1 + len(body["hits"])))
    assert len(seen) == 12
    assert len(set(seen)) == 12


def test_page_past_last_is_empty(search_client):
    body = _search(search_client, page=4, page_size=5)
    assert body["total"] == 12
    assert body["hits"] == []


def test_page_beyond_result_window_names_deepest_page(search_client):
    deepest = MAX_RESULT_WINDOW // 50
    assert search_client.get(f"/api/v1/search?page={deepest}&page_size=50").status_code == 200
    response = search_client.get(f"/api/v1/search?page={deepest + 1}&page_size=50")
    body = response.get_json()
    assert response.status_code == 422
    message = body["errors"]["query"]["page"][0]
    assert f"deepest reachable page, {deepest}" in message


def test_page_size_above_maximum_is_422(search_client):
    response = search_client.get(f"/api/v1/search?page_size={MAX_PAGE_SIZE + 1}")
    assert response.status_code == 422
    assert "page_size" in response.get_json()["errors"]["query"]
    assert search_client.get(f"/api/v1/search?page_size={MAX_PAGE_SIZE}").status_code == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [("sort=cheapest", "sort"), ("page=0", "page"), ("page=abc", "page"), ("min_price=-1", "min_price"),
     ("min_price=nan", "min_price"), ("max_price=inf", "max_price"), ("in_stock=maybe", "in_stock"),
     ("min_price=50&max_price=10", "min_price"), ("colour=red", "colour"), ("page_size=0", "page_size")],
)
def test_invalid_parameter_is_422(search_client, query, field):
    response = search_client.get(f"/api/v1/search?{query}")
    body = response.get_json()
    assert response.status_code == 422, body
    assert set(body) == {"code", "status", "message", "errors"}
    assert field in body["errors"]["query"]


def test_too_long_session_header_is_422(search_client):
    response = search_client.get("/api/v1/search?q=torch", headers={"X-Session-Id": "s" * 129})
    assert response.status_code == 422
    assert "X-Session-Id" in response.get_json()["errors"]["headers"]


def test_body_matches_documented_schema(search_client):
    from webapp.search.schemas import SearchResponseSchema

    body = _search(search_client, q="shoes", brand="Nike", max_price=100)
    assert body["hits"]
    assert SearchResponseSchema().dump(body) == body
