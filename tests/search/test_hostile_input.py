"""User text is data, never query syntax: odd input gets results or a clear 422, never a 500."""

from __future__ import annotations

import pytest

from storage.search import MAX_QUERY_LENGTH

HOSTILE_QUERIES = [
    '"',
    '"unclosed phrase',
    "'single' \"double\"",
    "/",
    "a/b/c",
    "\\",
    "knife\\",
    "[",
    "]",
    "{",
    "(",
    "[1 TO 5]",
    "{*}",
    "name:knife",
    "brand:*",
    "*",
    "?",
    "~",
    "knife~2",
    "^",
    "knife^100",
    "AND",
    "OR NOT",
    "knife AND NOT torch",
    "knife && torch || !yoga",
    "-",
    "+knife -torch",
    "&",
    "|",
    "!",
    "<>",
    "<script>alert(1)</script>",
    "'; DROP TABLE products; --",
    "%",
    "%00",
    "${jndi:ldap://x}",
    "/.*/",
    "😀",
    "🏃‍♀️ running",
    "👟👟👟",
    "東京タワー",
    "日本語の検索",
    "العربية",
    "שלום עולם",
    "\u202eknife",
    "\u200f\u200e",
    "knife\x00torch",
    "\x01\x02\x03",
    "tab\tand\nnewline",
    "\x7f",
    "\ufeffknife",
    "\u0301\u0301",
    "Ｆｕｌｌ　ｗｉｄｔｈ",
    "ǅemal",
    "ß",
    " ",
    "    ",
    "x" * MAX_QUERY_LENGTH,
    "word " * (MAX_QUERY_LENGTH // 5),
]


@pytest.mark.parametrize("text", HOSTILE_QUERIES, ids=range(len(HOSTILE_QUERIES)))
def test_hostile_query_gets_results_or_422(search_client, text):
    response = search_client.get("/api/v1/search", query_string={"q": text})
    body = response.get_json()
    assert response.status_code == 200, body
    assert isinstance(body["total"], int)
    assert body["query"] == text


def test_operators_are_plain_words(search_client):
    # "AND" and "-" do not act as operators: the text is matched as words.
    plain = search_client.get("/api/v1/search", query_string={"q": "knife"}).get_json()
    with_minus = search_client.get("/api/v1/search", query_string={"q": "-knife"}).get_json()
    assert [hit["id"] for hit in plain["hits"]] == ["p03"]
    assert [hit["id"] for hit in with_minus["hits"]] == ["p03"]


def test_field_syntax_is_not_interpreted(search_client):
    # As field syntax this would search a field named "nike"; as words it finds Nike running products.
    body = search_client.get("/api/v1/search", query_string={"q": "nike:running"}).get_json()
    assert {hit["id"] for hit in body["hits"]} == {"p04", "p10"}


def test_control_characters_separate_words(search_client):
    body = search_client.get("/api/v1/search", query_string={"q": "creme\x00brulee"}).get_json()
    assert [hit["id"] for hit in body["hits"]] == ["p01"]


def test_cjk_text_finds_product(search_client):
    body = search_client.get("/api/v1/search", query_string={"q": "東京"}).get_json()
    assert [hit["id"] for hit in body["hits"]] == ["p11"]


def test_html_in_query_is_escaped_in_highlight(search_client):
    body = search_client.get("/api/v1/search", query_string={"q": "espresso machine <b>steel</b>"}).get_json()
    assert body["hits"][0]["id"] == "p12"
    for fragments in body["hits"][0]["highlight"].values():
        for fragment in fragments:
            assert "<b>" not in fragment


def test_query_of_ten_thousand_characters_is_422(search_client):
    response = search_client.get("/api/v1/search", query_string={"q": "a" * 10_000})
    body = response.get_json()
    assert response.status_code == 422
    assert body["errors"]["query"]["q"] == [f"Longer than maximum length {MAX_QUERY_LENGTH}."]


def test_query_at_maximum_length_is_accepted(search_client):
    response = search_client.get("/api/v1/search", query_string={"q": "knife " + "z" * (MAX_QUERY_LENGTH - 6)})
    assert response.status_code == 200


def test_invalid_utf8_in_query_string_does_not_fail(search_client):
    response = search_client.get("/api/v1/search?q=%ff%fe%fd")
    assert response.status_code == 200


def test_many_distinct_words_are_capped(search_client):
    words = " ".join(f"w{i}" for i in range(120))
    response = search_client.get("/api/v1/search", query_string={"q": words})
    assert response.status_code == 200
    assert response.get_json()["total"] == 0


def test_hostile_suggest_prefix_does_not_fail(search_client):
    for text in ['"', "\\", "[", "😀", "東京", "\x00", "a" * 100, "*"]:
        response = search_client.get("/api/v1/search/suggest", query_string={"q": text})
        assert response.status_code == 200, (text, response.get_json())
