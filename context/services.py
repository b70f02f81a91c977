"""Writes of the context store: exchanges (in batches, from the writer thread), token counts, purges."""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import orjson
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone

from context import search
from context.conversation import TAIL, Mode, Stored, appended, first_difference, plan
from context.models import Conversation, Interaction, Message, SearchTerm
from context.pending import Exchange
from context.text import clean, message_digest, message_text, task_text
from core import tokens

logger = logging.getLogger(__name__)

INTERACTION_CHARS = 2000  # of a prompt, and of an answer, kept for search and for context blocks
TITLE_CHARS = 120


@dataclass(slots=True)
class TokenCounts:
    """Exact counts of stored messages, measured by the request path, to keep for the next requests."""

    counts: list[tuple[int, int]]  # (message id, tokens)


def answer_message(text: str, tool_calls: Sequence[dict]) -> dict:
    """The assistant message a completed answer is stored (and replayed) as, in OpenAI's shape."""
    message: dict = {"role": "assistant", "content": text or (None if tool_calls else "")}
    if tool_calls:
        message["tool_calls"] = [dict(call) for call in tool_calls]
    return message


def context_batch_write(items: Sequence[object]) -> int:
    """Write a batch of exchanges and token counts in one transaction: all or nothing, so a retry is safe
    (an exchange already written, known by its request id, is skipped)."""
    close_old_connections()
    terms: Counter[str] = Counter()
    with transaction.atomic():
        for item in items:
            if isinstance(item, Exchange):
                _exchange_write(item, terms)
            elif isinstance(item, TokenCounts):
                _token_counts_write(item)
        search.term_counts_add(terms)
    return len(items)


def _conversation_locked(exchange: Exchange) -> Conversation:
    key = exchange.key
    identity = {"api_key_prefix": key.api_key_prefix, "profile": key.profile, "conversation_id": key.conversation_id}
    row = Conversation.objects.select_for_update().filter(**identity).first()
    if row is not None:
        return row
    try:
        with transaction.atomic():
            return Conversation.objects.create(**identity, created_at=exchange.created_at,
                                               updated_at=exchange.created_at)
    except IntegrityError:  # another process created it meanwhile
        return Conversation.objects.select_for_update().get(**identity)


def _exchange_write(exchange: Exchange, terms: Counter[str]) -> None:
    conversation = _conversation_locked(exchange)
    stored = Stored(conversation.message_count, conversation.first_digest,
                    tuple((digest, request_id) for digest, request_id in conversation.tail))
    if exchange.request_id in stored.request_ids:
        return
    step = plan(stored, exchange.digest_at, len(exchange.turns))
    if step.mode is Mode.DIVERGED:
        rows = list(Message.objects.filter(conversation=conversation).order_by("position")
                    .values_list("digest", "request_id"))
        keep = first_difference([digest for digest, _ in rows],
                                [exchange.digest_at(i) for i in range(len(exchange.turns))])
        Message.objects.filter(conversation=conversation, position__gte=keep).delete()
        stored = Stored(keep, rows[0][0] if keep else "", tuple(rows[max(keep - TAIL, 0):keep]))
        new = exchange.turns[keep:]
    elif step.mode is Mode.NEW:
        keep, new = 0, exchange.turns
    else:
        keep, new = stored.count, exchange.turns[step.new_from:]
    messages = [*new, exchange.answer]
    counting = tokens.is_loaded()  # exact counts only where the tokenizer is loaded already
    rows = []
    for offset, message in enumerate(messages):
        payload = clean(orjson.dumps(message).decode())
        rows.append(Message(
            conversation=conversation, position=keep + offset, role=str(message.get("role", ""))[:16],
            payload=payload, size=len(payload.encode()),
            tokens=tokens.count_message_tokens([message]) - tokens.REPLY_PRIMING if counting else None,
            digest=message_digest(message), request_id=exchange.request_id, created_at=exchange.created_at,
        ))
    Message.objects.bulk_create(rows)
    state = appended(stored, [(row.digest, exchange.request_id) for row in rows], keep=keep)
    conversation.message_count = state.count
    conversation.first_digest = state.first
    conversation.tail = [list(pair) for pair in state.tail]
    conversation.updated_at = max(conversation.updated_at, exchange.created_at)
    if not conversation.title:
        conversation.title = next((clean(task_text(m))[:TITLE_CHARS] for m in messages
                                   if m.get("role") == "user" and task_text(m)), "")
    if conversation.similar_ids is None and exchange.similar_ids is not None:
        conversation.similar_ids = list(exchange.similar_ids)
    conversation.save(update_fields=["message_count", "first_digest", "tail", "updated_at", "title", "similar_ids"])
    _interactions_write(conversation, exchange, messages, terms)


def _interactions_write(conversation: Conversation, exchange: Exchange, messages: list[dict],
                        terms: Counter[str]) -> None:
    """A user turn with words of its own starts an interaction; what answers it is its answer. Answers to
    tool results (an agent's loop) join the interaction of the task they belong to."""
    groups: list[tuple[str, list[str]]] = []
    carry: list[str] = []
    for message in messages:
        role = message.get("role")
        if role == "user" and (text := task_text(message)):
            groups.append((text, []))
        elif role == "assistant" and (text := message_text(message)):
            (groups[-1][1] if groups else carry).append(text)
    if carry:
        _interaction_extend(conversation, carry, terms)
    for prompt, answers in groups:
        interaction = Interaction.objects.create(
            conversation=conversation, api_key_prefix=conversation.api_key_prefix, profile=conversation.profile,
            request_id=exchange.request_id, prompt=clean(prompt)[:INTERACTION_CHARS],
            answer=clean("\n".join(answers))[:INTERACTION_CHARS], created_at=exchange.created_at,
        )
        terms.update(search.terms_of([interaction.prompt, interaction.answer]))
        terms[SearchTerm.TOTAL_TERM] += 1


def _interaction_extend(conversation: Conversation, answers: list[str], terms: Counter[str]) -> None:
    latest = Interaction.objects.filter(conversation=conversation).order_by("-id").first()
    if latest is None or len(latest.answer) >= INTERACTION_CHARS:
        return
    before = search.terms_of([latest.prompt, latest.answer])
    latest.answer = clean("\n".join([latest.answer, *answers]).strip())[:INTERACTION_CHARS]
    latest.save(update_fields=["answer"])
    terms.update(search.terms_of([latest.prompt, latest.answer]) - before)


def _token_counts_write(item: TokenCounts) -> None:
    table = connection.ops.quote_name(Message._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {table} SET tokens = %s WHERE id = %s",
                           [(count, pk) for pk, count in item.counts])


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
