"""Full-text search over past interactions, on SQLite (FTS5) and on PostgreSQL (tsvector + GIN). Sync.

Both index the same words (`context.text.search_terms`: lower-case runs of letters and digits, no
stemming, diacritics kept), so a query means the same on both. What bounds a search's cost is how many
rows match: FTS5 and GIN both rank every matching row, a few microseconds each. So a query uses only the
request's most distinctive words, rarest first, while the interactions they occur in stay within
`max_matches` (counted in `SearchTerm`, kept up to date by the writer). Ranking: bm25 on SQLite;
on PostgreSQL the idf-weighted share of the query's words present (each `@@` on the row's vector),
then ts_rank, then recency. The minimum score is applied the same way on both (`coverage`).

The index lives beside the `Interaction` table (SQLite: `context_interaction_fts`, PostgreSQL:
`context_interaction_search`) and is kept in sync by triggers (migration 0002), so every way of writing
or deleting interactions, a test database flush included, keeps it right.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from django.db import connection

from context.text import search_term_set, words

TABLE = "context_interaction"
QUERY_CHARS = 4000  # of the request's task text, searched
QUERY_TERMS = 32  # distinct words of it looked up in the term statistics
MAX_QUERY_TERMS = 12  # words a query keeps at most

@dataclass(frozen=True, slots=True)
class Scope:
    """Whose interactions a search may return; an empty field is not a filter."""

    api_key_prefix: str | None
    profile: str | None


@dataclass(frozen=True, slots=True)
class Query:
    terms: tuple[str, ...]
    weights: tuple[float, ...]  # idf of each term

    @property
    def total_weight(self) -> float:
        return sum(self.weights)


@dataclass(frozen=True, slots=True)
class Hit:
    interaction_id: int
    prompt: str
    answer: str
    created_at: object
    score: float  # coverage, 0..1


def choose_terms(
    candidates: Sequence[str], docs: Mapping[str, int], total: int, *, max_matches: int,
    max_terms: int = MAX_QUERY_TERMS,
) -> Query:
    """The rarest of `candidates` while the interactions they occur in stay within `max_matches`.

    A word in no interaction cannot match and is left out; so is one alone in more than `max_matches`.
    """
    present = [term for term in candidates if docs.get(term, 0) > 0]
    order = sorted(range(len(present)), key=lambda i: (docs[present[i]], -len(present[i]), i))
    chosen: list[str] = []
    matches = 0
    for i in order:
        term = present[i]
        if matches + docs[term] > max_matches or len(chosen) >= max_terms:
            break
        chosen.append(term)
        matches += docs[term]
    total = max(total, max((docs[term] for term in chosen), default=0))
    return Query(tuple(chosen), tuple(math.log(1 + total / docs[term]) for term in chosen))


def coverage(query: Query, text: str) -> float:
    """The idf-weighted share of the query's terms that occur in `text` (0..1)."""
    if not query.terms:
        return 0.0
    present = set(words(text))
    found = sum(weight for term, weight in zip(query.terms, query.weights, strict=True) if term in present)
    return found / query.total_weight


def search(query: Query, scope: Scope, *, exclude_conversation: int | None, limit: int) -> list[tuple]:
    """(id, prompt, answer, created_at) of the best-ranked interactions in scope, best first."""
    if not query.terms:
        return []
    if connection.vendor == "postgresql":
        return _search_postgresql(query, scope, exclude_conversation, limit)
    return _search_sqlite(query, scope, exclude_conversation, limit)


def _scope_sql(scope: Scope, alias: str, exclude_conversation: int | None) -> tuple[str, list]:
    clauses, params = [], []
    if scope.api_key_prefix is not None:
        clauses.append(f"{alias}.api_key_prefix = %s")
        params.append(scope.api_key_prefix)
    if scope.profile is not None:
        clauses.append(f"{alias}.profile = %s")
        params.append(scope.profile)
    if exclude_conversation is not None:
        clauses.append(f"{alias}.conversation_id <> %s")
        params.append(exclude_conversation)
    return "".join(f" AND {clause}" for clause in clauses), params


def _search_sqlite(query: Query, scope: Scope, exclude: int | None, limit: int) -> list[tuple]:
    match = " OR ".join(f'"{term}"' for term in query.terms)  # terms are letters and digits only
    where, params = _scope_sql(scope, "i", exclude)
    # Ranked on ids alone, texts read for the few kept: sorting whole rows copied every match's prompt and
    # answer (kilobytes each) into the sorter.
    sql = (
        f"SELECT i.id, i.prompt, i.answer, i.created_at FROM (SELECT f.rowid AS id, bm25({TABLE}_fts) AS score "
        f"FROM {TABLE}_fts f JOIN {TABLE} i ON i.id = f.rowid WHERE {TABLE}_fts MATCH %s{where} "
        f"ORDER BY score, f.rowid DESC LIMIT %s) top JOIN {TABLE} i ON i.id = top.id ORDER BY top.score, top.id DESC"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [match, *params, limit])
        return cursor.fetchall()


def _search_postgresql(query: Query, scope: Scope, exclude: int | None, limit: int) -> list[tuple]:
    where, params = _scope_sql(scope, "s", exclude)
    present = " + ".join(["(s.search @@ to_tsquery('simple', %s))::int * %s"] * len(query.terms))
    present_params = [value for pair in zip(query.terms, query.weights, strict=True) for value in pair]
    sql = (
        f"WITH q AS (SELECT to_tsquery('simple', %s) AS q), "
        f"top AS (SELECT s.interaction_id, {present} AS present, ts_rank(s.search, q.q) AS rank "
        f"FROM {TABLE}_search s, q WHERE s.search @@ q.q{where} "
        f"ORDER BY present DESC, rank DESC, s.interaction_id DESC LIMIT %s) "
        f"SELECT i.id, i.prompt, i.answer, i.created_at FROM top JOIN {TABLE} i ON i.id = top.interaction_id "
        f"ORDER BY top.present DESC, top.rank DESC, top.interaction_id DESC"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [" | ".join(query.terms), *present_params, *params, limit])
        return cursor.fetchall()


def term_counts_add(changes: Mapping[str, int]) -> None:
    """Add to the document counts of terms (negative to subtract), in one statement per batch."""
    rows = [(term, delta) for term, delta in changes.items() if delta]
    if not rows:
        return
    sql = (
        "INSERT INTO context_searchterm (term, docs) VALUES (%s, %s) "
        "ON CONFLICT (term) DO UPDATE SET docs = context_searchterm.docs + excluded.docs"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def term_counts(terms: Sequence[str]) -> dict[str, int]:
    """How many interactions each of `terms` occurs in (terms in none are left out)."""
    if not terms:
        return {}
    placeholders = ", ".join(["%s"] * len(terms))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT term, docs FROM context_searchterm WHERE term IN ({placeholders})", list(terms))
        return dict(cursor.fetchall())


def terms_of(texts: Iterable[str]) -> set[str]:
    """The distinct terms an interaction is counted under."""
    terms: set[str] = set()
    for text in texts:
        terms.update(search_term_set(text))
    return terms
