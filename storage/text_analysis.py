"""Text analysis done in Python, the same way for documents and for queries.

The Elasticsearch test distribution ships only core analyzers: no ASCII folding
and no stemming filters. So the service folds accents and stems words itself,
and stores the result in `*_analyzed` fields mapped with the `whitespace`
analyzer. Queries go through the same function. "Crème Brûlée" and
"creme brulee" both become "creme brule", "Running Shoes" and "running shoe"
both become "run shoe", on the test distribution and on a full server alike.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer

# Letters and digits in any script; everything else separates tokens.
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)

# Letters that NFKD does not split into a base letter and a combining mark.
_EXTRA_FOLDS = str.maketrans(
    {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
)

_WHITESPACE = re.compile(r"\s+")


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def normalize_query(text: str) -> str:
    """Normalize a query for analytics: NFKC, case-folded, trimmed, inner whitespace collapsed."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def fold(text: str) -> str:
    """Lower-case and strip accents: "Crème Brûlée" becomes "creme brulee"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.translate(_EXTRA_FOLDS)


def tokens(text: str) -> list[str]:
    """Split folded text into word tokens."""
    return _TOKEN.findall(fold(text))


def analyze(text: str) -> str:
    """Fold, tokenize and stem text into space-separated terms for a `*_analyzed` field."""
    words = tokens(text)
    if not words:
        return ""
    return " ".join(_stemmer().stemWords(words))
