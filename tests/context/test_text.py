"""The word cut the search indexes by: one meaning for ASCII text (a fast path) and for any other text."""

from __future__ import annotations

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


def test_search_terms_keep_first_appearance_order_without_stopwords_or_repeats() -> None:
    assert search_terms("The KeyError KeyError in the invoice_total, then Invoice totals", limit=4) == [
        "keyerror", "invoice", "total", "totals"]
