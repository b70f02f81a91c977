"""The word cut the search indexes by: one meaning for ASCII text (a fast path) and for any other text."""

from __future__ import annotations

import random
import re

import pytest

from context.text import search_terms, words

REFERENCE = re.compile(r"[^\W_]+")  # letters and digits, as FTS5's unicode61 and PostgreSQL's `simple` cut them


@pytest.mark.parametrize("text", [
    "KeyError: 'currency' in billing/invoices.py line 42",
    "snake_case_name, kebab-case-name and CamelCase; a.b.c/d\\e",
    "tabs\tand\nnewlines\r\nand  spaces, $dollars, 50% and #hash @at ~tilde `tick`",
    "",
    "___",
    "Café naïve — “quotes” and 日本語のテキスト, Ünïcödé_under_score",
    "ascii then é",
])
def test_words_cut_ascii_and_other_text_as_the_reference_pattern(text: str) -> None:
    assert words(text) == REFERENCE.findall(text.lower())


def test_words_of_random_mixed_text_are_the_reference_patterns() -> None:
    """Separators of every kind next to letters whose lower case is context-dependent (final sigma) or changes
    length (dotted I), in random order: the cut of non-ASCII text must not differ anywhere."""
    alphabet = "abcXYZ019 _-.,:;'\n\t\u00a0\u2003\u3000ÉéßΣσςİΑΚ\u212a—“”…日本語🤖\u0301\x00\ud800"
    rng = random.Random(13)
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
        assert words(text) == REFERENCE.findall(text.lower()), text


def test_search_terms_keep_first_appearance_order_without_stopwords_or_repeats() -> None:
    assert search_terms("The KeyError KeyError in the invoice_total, then Invoice totals", limit=4) == [
        "keyerror", "invoice", "total", "totals"]
