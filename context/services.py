"""Writes of the context store: exchanges (in batches, by the writer process or the writer thread), token counts,
purges."""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from context import search
from context.conversation import TAIL, Mode, Stored, appended, first_difference, plan
from context.models import Conversation, Interaction, Message, SearchTerm
from context.pending import Exchange, TokenCounts
from context.sql import plain_cursor
from context.text import clean, json_column, message_digest, message_text, task_text
from core import tokens

logger = logging.getLogger(__name__)

INTERACTION_CHARS = 2000  # of a prompt, and of an answer, kept for search and for context blocks
TITLE_CHARS = 120
CONVERSATION, MESSAGE, INTERACTION = (model._meta.db_table for model in (Conversation, Message, Interaction))


def answer_message(text: str, tool_calls: Sequence[dict]) -> dict:
    """The assistant message a completed answer is stored (and replayed) as, in OpenAI's shape."""
    message: dict = {"role": "assistant", "content": text or (None if tool_calls else "")}
    if tool_calls:
        message["tool_calls"] = [dict(call) for call in tool_calls]
    return message


def context_batch_write(items: Sequence[object]) -> int:
    """Write a batch of exchanges and token counts in one transaction: all or nothing, so a retry is safe
    (an exchange already written, known by its request id, is skipped).

    Plain SQL on one cursor, a handful of statements per exchange: the ORM spent about a millisecond of CPU
    per exchange building them, in the writer thread, holding the GIL against the requests being served."""
    close_old_connections()
    terms: Counter[str] = Counter()
    with transaction.atomic(), plain_cursor() as cursor:
        for item in items:
            if isinstance(item, Exchange):
                _exchange_write(cursor, item, terms)
            elif isinstance(item, TokenCounts):
                _token_counts_write(cursor, item)
            os.sched_yield()  # a waiting request thread gets the GIL now, not at the next switch interval
        search.term_counts_add(terms)
    return len(items)


def context_items_save(items: Sequence[object]) -> int:
    """One transaction for the batch; if it fails, each item alone, so one bad exchange (a conversation whose
    rows were edited by hand, say) is logged and dropped instead of holding back every later one. Never raises:
    returns how many items were written."""
    try:
        return context_batch_write(items)
    except Exception:
        logger.warning("saving %d context items in one batch failed; saving them one by one", len(items),
                       exc_info=True)
    written = 0
    for item in items:
        try:
            written += context_batch_write([item])
        except Exception:
            logger.exception("dropping a context item that cannot be saved: %r", type(item).__name__)
    return written


@dataclass(slots=True)
class _ConversationRow:
    id: int
    stored: Stored
    title: str
    similar_ids: list | None
    updated_at: datetime


def _conversation_locked(cursor: Any, exchange: Exchange) -> _ConversationRow | None:
    """The exchange's conversation row, locked until the transaction ends (PostgreSQL; SQLite has one writer at
    a time); None when there is none yet."""
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    cursor.execute(f"SELECT id, message_count, first_digest, tail, title, similar_ids, updated_at FROM {CONVERSATION} "
                   f"WHERE api_key_prefix = %s AND profile = %s AND conversation_id = %s{lock}", tuple(exchange.key))
    row = cursor.fetchone()
    if row is None:
        return None
    pk, count, first, tail, title, similar_ids, updated_at = row
    stored = Stored(count, first, tuple((digest, request_id) for digest, request_id in json_column(tail)))
    if isinstance(updated_at, str):
        updated_at = datetime.fromisoformat(updated_at)
    if updated_at.tzinfo is None:  # SQLite keeps UTC without an offset
        updated_at = updated_at.replace(tzinfo=UTC)
    return _ConversationRow(pk, stored, title, json_column(similar_ids), updated_at)


def _exchange_write(cursor: Any, exchange: Exchange, terms: Counter[str]) -> None:
    created = connection.ops.adapt_datetimefield_value(exchange.created_at)
    conversation = _conversation_locked(cursor, exchange)
    if conversation is None:
        if _new_conversation_write(cursor, exchange, created, terms):
            return
        conversation = _conversation_locked(cursor, exchange)  # another process created it meanwhile: lock theirs
        if conversation is None:
            raise RuntimeError(f"conversation {exchange.key.conversation_id!r} was created and deleted meanwhile")
    stored = conversation.stored
    if exchange.request_id in stored.request_ids or (exchange.replayed and _stored_before(cursor, conversation.id,
                                                                                          exchange.request_id)):
        return
    step = plan(stored, exchange.digest_at, len(exchange.turns))
    if step.mode is Mode.DIVERGED:
        cursor.execute(f"SELECT digest, request_id FROM {MESSAGE} WHERE conversation_id = %s ORDER BY position",
                       [conversation.id])
        rows = cursor.fetchall()
        keep = first_difference([digest for digest, _ in rows],
                                [exchange.digest_at(i) for i in range(len(exchange.turns))])
        cursor.execute(f"DELETE FROM {MESSAGE} WHERE conversation_id = %s AND position >= %s", [conversation.id, keep])
        stored = Stored(keep, rows[0][0] if keep else "", tuple(tuple(row) for row in rows[max(keep - TAIL, 0):keep]))
        start = keep
    elif step.mode is Mode.NEW:
        keep, start = 0, 0
    else:
        keep, start = stored.count, step.new_from
    messages = [*exchange.turns[start:], exchange.answer]
    rows, state = _message_rows(exchange, stored, keep, start, messages, created)
    _messages_insert(cursor, conversation.id, rows)
    title = conversation.title or _title(messages)
    similar_ids = conversation.similar_ids
    if similar_ids is None and exchange.similar_ids is not None:
        similar_ids = list(exchange.similar_ids)
    cursor.execute(
        f"UPDATE {CONVERSATION} SET message_count = %s, first_digest = %s, tail = %s, updated_at = %s, title = %s, "
        f"similar_ids = %s WHERE id = %s",
        [state.count, state.first, _tail_value(state),
         connection.ops.adapt_datetimefield_value(max(conversation.updated_at, exchange.created_at)), title,
         _json_value(similar_ids), conversation.id],
    )
    _interactions_write(cursor, conversation.id, exchange, created, messages, terms)


def _new_conversation_write(cursor: Any, exchange: Exchange, created: object, terms: Counter[str]) -> bool:
    """A conversation's first exchange: its row inserted once, with what its messages make it, not inserted
    empty and then updated (a second write of the row and its index, on every new task). False when another
    process inserted the row meanwhile (nothing written): the caller locks theirs and appends."""
    messages = [*exchange.turns, exchange.answer]
    rows, state = _message_rows(exchange, Stored(), 0, 0, messages, created)
    similar_ids = list(exchange.similar_ids) if exchange.similar_ids is not None else None
    cursor.execute(
        f"INSERT INTO {CONVERSATION} (api_key_prefix, profile, conversation_id, title, message_count, "
        f"first_digest, tail, similar_ids, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        f"ON CONFLICT (api_key_prefix, profile, conversation_id) DO NOTHING RETURNING id",
        [*exchange.key, _title(messages), state.count, state.first, _tail_value(state), _json_value(similar_ids),
         created, created],
    )
    row = cursor.fetchone()
    if row is None:
        return False
    _messages_insert(cursor, row[0], rows)
    _interactions_write(cursor, row[0], exchange, created, messages, terms)
    return True


def _message_rows(exchange: Exchange, stored: Stored, keep: int, start: int, messages: list[dict],
                  created: object) -> tuple[list[tuple], Stored]:
    """The message rows (without their conversation) of `messages`, stored from position `keep` on (the
    first of them is request turn `start`; the last is the answer), and the conversation's state after them."""
    counting = tokens.is_loaded()  # exact counts only where the tokenizer is loaded already
    new = len(messages) - 1
    rows, digests = [], []
    for offset, message in enumerate(messages):
        payload = clean(orjson.dumps(message).decode())
        # the turns' digests are the exchange's own, which the request path's reads may have computed already
        digest = exchange.digest_at(start + offset) if offset < new else message_digest(message)
        digests.append(digest)
        rows.append((keep + offset, str(message.get("role", ""))[:16], payload, len(payload.encode()),
                     tokens.count_message_tokens([message]) - tokens.REPLY_PRIMING if counting else None,
                     digest, exchange.request_id, created))
    return rows, appended(stored, [(digest, exchange.request_id) for digest in digests], keep=keep)


def _messages_insert(cursor: Any, conversation: int, rows: list[tuple]) -> None:
    cursor.executemany(
        f"INSERT INTO {MESSAGE} (conversation_id, position, role, payload, size, tokens, digest, request_id, "
        f"created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", [(conversation, *row) for row in rows])


def _title(messages: list[dict]) -> str:
    return next((clean(task_text(m))[:TITLE_CHARS] for m in messages if m.get("role") == "user" and task_text(m)), "")


def _tail_value(state: Stored) -> object:
    return connection.ops.adapt_json_value([list(pair) for pair in state.tail], None)


def _json_value(value: list | None) -> object:
    return None if value is None else connection.ops.adapt_json_value(value, None)


def _stored_before(cursor: Any, conversation: int, request_id: str) -> bool:
    """Whether the exchange's messages are in the conversation (a journal replay of an exchange whose batch
    was committed just before its process died, since pushed out of the conversation's tail)."""
    cursor.execute(f"SELECT 1 FROM {MESSAGE} WHERE conversation_id = %s AND request_id = %s LIMIT 1",
                   [conversation, request_id])
    return cursor.fetchone() is not None


def _interactions_write(cursor: Any, conversation: int, exchange: Exchange, created: object, messages: list[dict],
                        terms: Counter[str]) -> None:
    """A user turn with words of its own starts an interaction; what answers it is its answer. Answers to
    tool results (an agent's loop) join the interaction of the task they belong to."""
    key = exchange.key
    groups: list[tuple[str, list[str]]] = []
    carry: list[str] = []
    for message in messages:
        role = message.get("role")
        if role == "user" and (text := task_text(message)):
            groups.append((text, []))
        elif role == "assistant" and (text := message_text(message)):
            (groups[-1][1] if groups else carry).append(text)
    if carry:
        _interaction_extend(cursor, conversation, carry, terms)
    if not groups:
        return
    rows = []
    for prompt, answers in groups:
        prompt, answer = clean(prompt)[:INTERACTION_CHARS], clean("\n".join(answers))[:INTERACTION_CHARS]
        rows.append((conversation, key.api_key_prefix, key.profile, exchange.request_id, prompt, answer, created))
        terms.update(search.terms_of([prompt, answer]))
        terms[SearchTerm.TOTAL_TERM] += 1
    cursor.executemany(
        f"INSERT INTO {INTERACTION} (conversation_id, api_key_prefix, profile, request_id, prompt, answer, "
        f"created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)", rows)


def _interaction_extend(cursor: Any, conversation: int, answers: list[str], terms: Counter[str]) -> None:
    cursor.execute(f"SELECT id, prompt, answer FROM {INTERACTION} WHERE conversation_id = %s ORDER BY id DESC "
                   f"LIMIT 1", [conversation])
    latest = cursor.fetchone()
    if latest is None or len(latest[2]) >= INTERACTION_CHARS:
        return
    pk, prompt, answer = latest
    extended = clean("\n".join([answer, *answers]).strip())[:INTERACTION_CHARS]
    cursor.execute(f"UPDATE {INTERACTION} SET answer = %s WHERE id = %s", [extended, pk])
    terms.update(search.terms_of([prompt, extended]) - search.terms_of([prompt, answer]))


def _token_counts_write(cursor: Any, item: TokenCounts) -> None:
    cursor.executemany(f"UPDATE {MESSAGE} SET tokens = %s WHERE id = %s", [(count, pk) for pk, count in item.counts])


@dataclass(slots=True)
class PurgeResult:
    conversations: int = 0
    messages: int = 0
    interactions: int = 0

    def __str__(self) -> str:
        return f"{self.conversations} conversations, {self.messages} messages, {self.interactions} interactions"


def conversations_purge(*, older_than: timedelta, batch_size: int = 200, dry_run: bool = False) -> PurgeResult:
    """Delete the conversations not updated for `older_than` (their messages and interactions with them),
    in batches of `batch_size` conversations, each batch atomic; term counts follow."""
    cutoff = timezone.now() - older_than
    old = Conversation.objects.filter(updated_at__lt=cutoff)
    result = PurgeResult()
    if dry_run:
        result.conversations = old.count()
        result.messages = Message.objects.filter(conversation__in=old).count()
        result.interactions = Interaction.objects.filter(conversation__in=old).count()
        return result
    while ids := list(old.order_by("id").values_list("id", flat=True)[:batch_size]):
        with transaction.atomic():
            changes: Counter[str] = Counter()
            interactions = Interaction.objects.filter(conversation_id__in=ids)
            for prompt, answer in interactions.values_list("prompt", "answer").iterator():
                for term in search.terms_of([prompt, answer]):
                    changes[term] -= 1
                changes[SearchTerm.TOTAL_TERM] -= 1
            result.interactions += interactions.delete()[0]
            result.messages += Message.objects.filter(conversation_id__in=ids).delete()[0]
            result.conversations += Conversation.objects.filter(id__in=ids).delete()[0]
            search.term_counts_add(changes)
            SearchTerm.objects.filter(docs__lte=0).exclude(term=SearchTerm.TOTAL_TERM).delete()
    return result


PURGE_SCHEDULE_NAME = "context: purge old conversations"
PURGE_TASK = "context.tasks.purge_conversations"


def purge_schedule_ensure() -> str:
    """The daily django-celery-beat task that applies CONVERSATION_RETENTION_DAYS: 'created' or 'kept'."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    if PeriodicTask.objects.filter(name=PURGE_SCHEDULE_NAME).exists():
        return "kept"
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="3", day_of_month="*", month_of_year="*", day_of_week="*", timezone="UTC"
    )
    PeriodicTask.objects.create(
        name=PURGE_SCHEDULE_NAME, task=PURGE_TASK, crontab=crontab, kwargs=json.dumps({}), enabled=True,
        description="Daily: delete conversations older than CONVERSATION_RETENTION_DAYS (0 keeps them).",
    )
    return "created"


def interaction_save(
    *, api_key_prefix: str, profile: str, conversation_id: str, prompt: str, answer: str,
    request_id: str | None = None,
) -> None:
    """Store one exchange (a user prompt and the answer) in a conversation, now, in the calling thread: the same
    write the gateway does after a response, so it becomes history and a searchable interaction. Saving the
    same `request_id` twice stores it once."""
    from context.pending import ConversationKey

    exchange = Exchange(
        ConversationKey(api_key_prefix, profile, conversation_id), request_id or f"ext-{uuid.uuid4().hex}",
        timezone.now(), [{"role": "user", "content": prompt}], answer_message(answer, ()),
    )
    context_batch_write([exchange])
