"""Full-text search over past interactions, on SQLite (FTS5) and on PostgreSQL (tsvector + GIN). Sync.

Both index the same words (`context.text.search_terms`: lower-case runs of letters and digits, no
stemming, diacritics kept), so a query means the same on both. What bounds a search's cost is how many
rows match: FTS5 and GIN both rank every matching row, a few microseconds each. So a query uses only the
request's most distinctive words, rarest first, while the interactions they occur in stay within
`max_matches` (counted in `SearchTerm`, kept up to date by the writer). Ranking on both: the
idf-weighted share of the query's words an interaction contains (its coverage, the score the minimum
applies to), then recency; PostgreSQL breaks ties by ts_rank first.

The index lives beside the `Interaction` table (SQLite: `context_interaction_fts`, PostgreSQL:
`context_interaction_search`) and is kept in sync by triggers (migration 0002), so every way of writing
or deleting interactions, a test database flush included, keeps it right.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from django.db import connection

from context.sql import plain_cursor
from context.text import search_term_set

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


def search(query: Query, scope: Scope, *, exclude_conversation: int | None, limit: int) -> list[tuple]:
    """(id, prompt, answer, created_at, coverage) of the best-ranked interactions in scope, best first."""
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
    """Each term's ids from its FTS5 doclist with the term's weight, summed per id into coverage and sorted in
    SQL; then the rows, best first, a page of `limit` ids at a time until `limit` of them are in scope.

    The doclists alone are cheap: bm25 cost about a microsecond per match, and checking the scope in a join
    read every matching row (its texts spill onto overflow pages); together that was two thirds of a
    request's enrichment."""
    per_term = " UNION ALL ".join(
        [f"SELECT rowid AS id, %s AS weight FROM {TABLE}_fts WHERE {TABLE}_fts MATCH %s"] * len(query.terms)
    )
    ranking = f"SELECT id, sum(weight) AS present FROM ({per_term}) GROUP BY id ORDER BY present DESC, id DESC"
    where, params = _scope_sql(scope, "i", exclude)
    total = query.total_weight
    rows: list[tuple] = []
    with plain_cursor() as ranked, plain_cursor() as cursor:
        # terms are letters and digits only: quoted, each is one FTS5 string
        ranked.execute(ranking, [value for pair in zip(query.weights, query.terms, strict=True)
                                 for value in (pair[0], f'"{pair[1]}"')])
        while len(rows) < limit and (page := ranked.fetchmany(limit)):
            present = dict(page)
            cursor.execute(f"SELECT i.id, i.prompt, i.answer, i.created_at FROM {TABLE} i "
                           f"WHERE i.id IN ({', '.join(['%s'] * len(page))}){where}", [*present, *params])
            found = {row[0]: row for row in cursor.fetchall()}
            rows += [(*found[pk], present[pk] / total) for pk in present if pk in found]
    return rows[:limit]


def _search_postgresql(query: Query, scope: Scope, exclude: int | None, limit: int) -> list[tuple]:
    where, params = _scope_sql(scope, "s", exclude)
    present = " + ".join(["(s.search @@ to_tsquery('simple', %s))::int * %s"] * len(query.terms))
    present_params = [value for pair in zip(query.terms, query.weights, strict=True) for value in pair]
    sql = (
        f"WITH q AS (SELECT to_tsquery('simple', %s) AS q), "
        f"top AS (SELECT s.interaction_id, {present} AS present, ts_rank(s.search, q.q) AS rank "
        f"FROM {TABLE}_search s, q WHERE s.search @@ q.q{where} "
        f"ORDER BY present DESC, rank DESC, s.interaction_id DESC LIMIT %s) "
        f"SELECT i.id, i.prompt, i.answer, i.created_at, top.present FROM top JOIN {TABLE} i "
        f"ON i.id = top.interaction_id "
        f"ORDER BY top.present DESC, top.rank DESC, top.interaction_id DESC"
    )
    with plain_cursor() as cursor:
        cursor.execute(sql, [" | ".join(query.terms), *present_params, *params, limit])
        total = query.total_weight
        return [(*row, float(present) / total) for *row, present in cursor.fetchall()]


def term_counts_add(changes: Mapping[str, int]) -> None:
    """Add to the document counts of terms (negative to subtract), in one statement per batch."""
    rows = [(term, delta) for term, delta in changes.items() if delta]
    if not rows:
        return
    sql = (
        "INSERT INTO context_searchterm (term, docs) VALUES (%s, %s) "
        "ON CONFLICT (term) DO UPDATE SET docs = context_searchterm.docs + excluded.docs"
    )
    with plain_cursor() as cursor:
        cursor.executemany(sql, rows)


def term_counts(terms: Sequence[str]) -> dict[str, int]:
    """How many interactions each of `terms` occurs in (terms in none are left out)."""
    if not terms:
        return {}
    placeholders = ", ".join(["%s"] * len(terms))
    with plain_cursor() as cursor:
        cursor.execute(f"SELECT term, docs FROM context_searchterm WHERE term IN ({placeholders})", list(terms))
        return dict(cursor.fetchall())


class CommonTerms:
    """Terms counted in more interactions than a query may match, remembered for `ttl` seconds per process.

    Such a term is never searched for (choose_terms stops before it), and its count only grows while the
    store does, so a remembered count is at most too low by what was stored since. Most words of a request
    are of that kind; the rare ones, whose exact counts choose the query, are always read. When the store
    shrinks (a purge, a flush) everything remembered is forgotten. Shared by the reader threads: each update
    is one dict operation."""

    def __init__(self, ttl: float = 60.0, max_terms: int = 100_000) -> None:
        self._ttl, self._max_terms = ttl, max_terms
        self._counts: dict[str, tuple[int, float]] = {}  # term -> (its count, when to ask again)
        self._total = 0  # the store's interactions when the counts were read

    def known(self, terms: Iterable[str]) -> dict[str, int]:
        now = time.monotonic()
        return {term: found[0] for term in terms if (found := self._counts.get(term)) is not None and found[1] > now}

    def learn(self, counts: Mapping[str, int], total: int, *, above: int) -> None:
        if total < self._total or len(self._counts) > self._max_terms:
            self._counts = {}
        self._total = total
        expires = time.monotonic() + self._ttl
        self._counts.update((term, (docs, expires)) for term, docs in counts.items() if docs > above)


def terms_of(texts: Iterable[str]) -> set[str]:
    """The distinct terms an interaction is counted under."""
    terms: set[str] = set()
    for text in texts:
        terms.update(search_term_set(text))
    return terms
