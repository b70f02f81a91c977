"""Reads of the context store (sync ORM and SQL; the request path calls them in the reader pool).

`conversation_read` is the one read a request makes: the conversation row, the history it needs and the
similar interactions, in one trip to a reader thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson
from django.conf import settings
from django.db import close_old_connections

from context import search
from context.budget import HistoryMessage
from context.conversation import Mode, Plan, Stored, Virtual, plan, with_pending
from context.history_cache import HistoryCache
from context.models import ContextPolicy, Conversation, Interaction, Message, SearchTerm
from context.pending import ConversationKey, Exchange
from context.policy import KEY, KEY_PROFILE, PROFILE, Policies, Policy
from context.sql import plain_cursor
from context.text import json_column, message_digest, search_terms
from core.versions import version_token

CONFIG_VERSION_KEY = "context"

history_cache = HistoryCache(settings.CONTEXT_HISTORY_CACHE_BYTES)
common_terms = search.CommonTerms()  # most words of a request: not asked about again for a minute

CONVERSATION_ROW = (f"SELECT id, message_count, first_digest, tail, similar_ids FROM {Conversation._meta.db_table} "
                    "WHERE api_key_prefix = %s AND profile = %s AND conversation_id = %s")


def policies_build() -> Policies:
    default = Policy(
        store=settings.CONTEXT_STORE,
        history=settings.CONTEXT_HISTORY,
        similar=settings.CONTEXT_SIMILAR,
        similar_scope=settings.CONTEXT_SIMILAR_SCOPE,
        similar_top_k=settings.CONTEXT_SIMILAR_TOP_K,
        similar_min_score=settings.CONTEXT_SIMILAR_MIN_SCORE,
    )
    rows = {
        row.profile: Policy(row.store, row.history, row.similar, row.similar_scope, row.similar_top_k,
                            row.similar_min_score)
        for row in ContextPolicy.objects.all()
    }
    return Policies(rows, default, frozenset(settings.CONTEXT_SIMILAR_OFF_PROFILES))


def policies_token() -> str | None:
    return version_token(CONFIG_VERSION_KEY)


def scope_for(policy: Policy, key: ConversationKey) -> search.Scope:
    """Never across keys unless the policy shares by profile."""
    if policy.similar_scope == PROFILE:
        return search.Scope(None, key.profile)
    if policy.similar_scope == KEY:
        return search.Scope(key.api_key_prefix, None)
    assert policy.similar_scope == KEY_PROFILE
    return search.Scope(key.api_key_prefix, key.profile)


@dataclass(slots=True)
class SimilarAsk:
    query: str
    scope: search.Scope
    top_k: int
    min_score: float
    max_matches: int


@dataclass(slots=True)
class ConversationRead:
    plan: Plan
    conversation: int | None = None  # its row id
    history: list[HistoryMessage] = field(default_factory=list)  # oldest first; HISTORY mode only
    hits: list[search.Hit] = field(default_factory=list)
    pin: tuple[int, ...] | None = None  # similar interactions found now, to keep on the conversation


def conversation_read(
    *,
    key: ConversationKey,
    turns: int,
    digest_at: Callable[[int], str],
    pending: Sequence[Exchange],
    committed: int,
    want_history: bool,
    history_limit: int,
    similar: SimilarAsk | None,
) -> ConversationRead:
    """How the request relates to the stored conversation, the history to offer and the similar interactions.

    `pending`: this process's exchanges of the conversation not known to be written; those with a sequence
    number up to `committed` (read before this call) are in the database, and so are those whose request id
    the row's tail already lists.
    """
    close_old_connections()
    with plain_cursor() as cursor:  # plain SQL: the ORM's query building cost more than the query
        cursor.execute(CONVERSATION_ROW, list(key))
        row = cursor.fetchone()
    conversation, stored, pinned = None, Stored(), None
    if row is not None:
        conversation, count, first, tail, pinned = row
        stored = Stored(count, first, tuple((digest, request_id) for digest, request_id in json_column(tail)))
        pinned = json_column(pinned)
    virtual = Virtual.of(stored)
    written = stored.request_ids if pending else frozenset()
    for exchange in pending:
        if exchange.seq <= committed or exchange.request_id in written:
            continue
        virtual = with_pending(virtual, exchange.turns, exchange.answer, exchange.request_id, exchange.digest_at,
                               message_digest)
        if pinned is None and exchange.similar_ids is not None:
            pinned = list(exchange.similar_ids)

    result = ConversationRead(plan(virtual.stored, digest_at, turns), conversation)
    if want_history and result.plan.mode is Mode.HISTORY:
        result.history = _history(conversation, stored, virtual, virtual.stored.count - result.plan.overlap,
                                  history_limit)
    if similar is not None:
        if pinned is not None:
            result.hits = pinned_interactions(pinned, similar.scope)
        else:
            result.hits = similar_interactions(similar, exclude_conversation=conversation)
            result.pin = tuple(hit.interaction_id for hit in result.hits)
    return result


def _history(conversation: int | None, stored: Stored, virtual: Virtual, end: int,
             limit: int) -> list[HistoryMessage]:
    """Messages [0, end) of the virtual conversation, at most the newest `limit`. A conversation whose rows
    all fit the limit is served from the process's history cache (only new rows are read)."""
    from_rows = min(virtual.from_rows, end)
    extra = [
        HistoryMessage(role=str(message.get("role", "")), size=len(orjson.dumps(message)), message=message)
        for message in virtual.extra[: max(end - virtual.from_rows, 0)]
    ][-limit:]
    wanted = limit - len(extra)
    rows: list[HistoryMessage] = []
    if conversation is not None and from_rows > 0 and wanted > 0 and stored.count <= limit:
        cached = history_cache.rows(conversation, stored.count, stored.tail_digests,
                                    lambda start, stop: _rows_between(conversation, start, stop))
        rows = cached[max(from_rows - wanted, 0):from_rows]
    elif conversation is not None and from_rows > 0 and wanted > 0:
        query = (
            Message.objects.filter(conversation_id=conversation, position__lt=from_rows)
            .order_by("-position")
            .values_list("id", "role", "payload", "size", "tokens")[:wanted]
        )
        rows = [
            HistoryMessage(role=role, size=size, tokens=tokens, payload=payload, message_id=pk)
            for pk, role, payload, size, tokens in query
        ]
        rows.reverse()
    return rows + extra


def _rows_between(conversation: int, start: int, stop: int) -> list[tuple[HistoryMessage, str]]:
    query = (Message.objects.filter(conversation_id=conversation, position__gte=start, position__lt=stop)
             .order_by("position").values_list("id", "role", "payload", "size", "tokens", "digest"))
    return [(HistoryMessage(role=role, size=size, tokens=tokens, payload=payload, message_id=pk), digest)
            for pk, role, payload, size, tokens, digest in query]


def similar_interactions(ask: SimilarAsk, *, exclude_conversation: int | None) -> list[search.Hit]:
    """The best past interactions in scope for `ask.query`, at least `min_score`, at most `top_k`."""
    candidates = search_terms(ask.query[: search.QUERY_CHARS], limit=search.QUERY_TERMS)
    if not candidates:
        return []
    known = common_terms.known(candidates)
    docs = search.term_counts([*(term for term in candidates if term not in known), SearchTerm.TOTAL_TERM])
    total = docs.pop(SearchTerm.TOTAL_TERM, 0)
    common_terms.learn(docs, total, above=ask.max_matches)
    docs.update(known)
    query = search.choose_terms(candidates, docs, total, max_matches=ask.max_matches)
    if not query.terms:
        return []
    # The top k in scope, best first (only their rows are read with their texts); those below the minimum score
    # are the last of them.
    return [search.Hit(pk, prompt, answer, created_at, score)
            for pk, prompt, answer, created_at, score in search.search(
                query, ask.scope, exclude_conversation=exclude_conversation, limit=ask.top_k)
            if score >= ask.min_score]


def pinned_interactions(ids: Sequence[int], scope: search.Scope) -> list[search.Hit]:
    """The interactions a conversation keeps in its block, in their order; purged ones are gone.

    Looked up by primary key alone, the scope checked on the rows found: a planner with stale statistics
    (right after a bulk load) would otherwise walk the scope index over every interaction of the key."""
    if not ids:
        return []
    placeholders = ", ".join(["%s"] * len(ids))
    with plain_cursor() as cursor:
        cursor.execute(f"SELECT id, prompt, answer, created_at, api_key_prefix, profile FROM "
                       f"{Interaction._meta.db_table} WHERE id IN ({placeholders})", list(ids))
        rows = cursor.fetchall()
    found = {
        pk: (prompt, answer, created_at)
        for pk, prompt, answer, created_at, key, profile in rows
        if (scope.api_key_prefix is None or key == scope.api_key_prefix)
        and (scope.profile is None or profile == scope.profile)
    }
    return [search.Hit(pk, *found[pk], 1.0) for pk in ids if pk in found]


# --- Stable reads for other callers (the MCP server, commands): sync, keyword-only, plain values. -------------


def conversation_messages(
    *, api_key_prefix: str, profile: str, conversation_id: str, limit: int | None = None
) -> list[dict]:
    """The stored messages of one conversation, oldest first, in OpenAI's chat shape (the newest `limit` when
    given); [] for an unknown conversation. Exchanges still waiting in a gateway process's batch are not
    included. Never crosses keys: the same id under another key or profile is another conversation."""
    rows = Message.objects.filter(
        conversation__api_key_prefix=api_key_prefix, conversation__profile=profile,
        conversation__conversation_id=conversation_id,
    ).order_by("-position").values_list("payload", flat=True)
    payloads = list(rows[:limit] if limit is not None else rows)
    payloads.reverse()
    return [orjson.loads(payload) for payload in payloads]


def interactions_search(
    *, query: str, api_key_prefix: str | None, profile: str | None, top_k: int = 3, min_score: float = 0.0,
    exclude_conversation_id: str | None = None,
) -> list[search.Hit]:
    """Past interactions most relevant to `query` (full-text ranking, as the request path does), best first.

    `api_key_prefix` / `profile` scope the search; None means any (a caller that passes None for the key must
    itself be allowed to see every key's history). `min_score` is the idf-weighted share of the query's
    distinctive words an interaction must contain (0..1).
    """
    exclude = None
    if exclude_conversation_id is not None:
        exclude = Conversation.objects.filter(
            api_key_prefix=api_key_prefix or "", profile=profile or "", conversation_id=exclude_conversation_id
        ).values_list("id", flat=True).first()
    ask = SimilarAsk(query, search.Scope(api_key_prefix, profile), top_k, min_score,
                     settings.CONTEXT_SIMILAR_MAX_MATCHES)
    return similar_interactions(ask, exclude_conversation=exclude)
