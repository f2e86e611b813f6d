import pytest

from storage.text_analysis import analyze, fold, normalize_query


@pytest.mark.parametrize(
    ("document", "query"),
    [
        ("Crème Brûlée Torch", "creme brulee"),
        ("Running Shoes", "running shoe"),
        ("Straße", "strasse"),
        ("CAFÉ", "cafe"),
    ],
)
def test_analyze_matches_document_and_query(document, query):
    document_terms = set(analyze(document).split())
    query_terms = set(analyze(query).split())
    assert query_terms <= document_terms


def test_fold_strips_accents_and_case():
    assert fold("Crème Brûlée") == "creme brulee"


def test_analyze_drops_punctuation_and_keeps_scripts():
    assert analyze('a"b/c(d)\\e') == "a b c d e"
    assert analyze("日本語 العربية") == "日本語 العربية"
    assert analyze("?!") == ""


def test_normalize_query_nfkc_casefold_whitespace():
    assert normalize_query("  Ｉphone\t 12   PRO ") == "iphone 12 pro"
    assert normalize_query("Straße") == "strasse"
