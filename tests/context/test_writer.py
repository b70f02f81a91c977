"""The batched writer of exchanges (context.services.context_batch_write), on whichever database the tests run
(CI runs this file on SQLite and on PostgreSQL): what an agent's loop, a retried batch and a rewind leave in
the store, read back through the same selectors the request path and the MCP server use."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from context.models import Conversation, Interaction, Message
from context.pending import ConversationKey, Exchange
from context.search import Scope
from context.selectors import SimilarAsk, conversation_messages, similar_interactions
from context.services import context_batch_write

pytestmark = pytest.mark.django_db(transaction=True)

TASK = {"role": "user", "content": "Find why the nightly invoice export drops refunded orders."}
CALL = {"role": "assistant", "content": None, "tool_calls": [
    {"id": "call_1", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "export.py"}'}}]}
RESULT = {"role": "tool", "tool_call_id": "call_1", "content": "def export(orders): ..."}
ANSWER = {"role": "assistant", "content": "The export filters on status == 'paid', so refunded orders vanish."}


def exchange(conversation: str, turns: list[dict], answer: dict, *, request_id: str | None = None,
             similar_ids: tuple[int, ...] | None = None, at=None) -> Exchange:
    return Exchange(ConversationKey("gw-key", "personal", conversation), request_id or f"gw-{uuid.uuid4().hex}",
                    at or timezone.now(), turns, answer, similar_ids)


def stored(conversation: str) -> list[dict]:
    return conversation_messages(api_key_prefix="gw-key", profile="personal", conversation_id=conversation)


def search(text: str) -> list[str]:
    hits = similar_interactions(SimilarAsk(text, Scope("gw-key", "personal"), 3, 0.3, 300), exclude_conversation=None)
    return [f"{hit.prompt} => {hit.answer}" for hit in hits]


def test_an_agent_loop_is_one_conversation_and_one_interaction_answered_by_its_final_answer():
    conversation = f"loop-{uuid.uuid4().hex[:8]}"
    context_batch_write([exchange(conversation, [TASK], CALL)])
    context_batch_write([exchange(conversation, [TASK, CALL, RESULT], ANSWER)])

    assert stored(conversation) == [TASK, CALL, RESULT, ANSWER]
    row = Conversation.objects.get(conversation_id=conversation)
    assert row.message_count == 4 and row.title == TASK["content"]
    assert Interaction.objects.filter(conversation=row).count() == 1  # the tool result is not a new task
    assert search("refunded orders vanish from the invoice export") == [
        f"{TASK['content']} => read_file({{\"path\":\"export.py\"}})\n{ANSWER['content']}"]


def test_a_batch_written_twice_stores_each_exchange_once():
    conversation = f"retry-{uuid.uuid4().hex[:8]}"
    batch = [exchange(conversation, [TASK], ANSWER, request_id="gw-once")]
    context_batch_write(batch)
    context_batch_write(batch)  # a retry after an ambiguous failure, or the one-by-one fallback

    assert stored(conversation) == [TASK, ANSWER]
    assert Interaction.objects.filter(conversation__conversation_id=conversation).count() == 1


def test_a_rewound_conversation_keeps_the_common_start_and_replaces_the_rest():
    conversation = f"rewind-{uuid.uuid4().hex[:8]}"
    follow_up = {"role": "user", "content": "And the credit notes?"}
    context_batch_write([exchange(conversation, [TASK], ANSWER)])
    context_batch_write([exchange(conversation, [TASK, ANSWER, follow_up], {"role": "assistant", "content": "Too."})])
    edited = {"role": "user", "content": "Find why the nightly invoice export drops cancelled orders."}
    regenerated = {"role": "assistant", "content": "Cancelled orders have no invoice line."}
    context_batch_write([exchange(conversation, [edited], regenerated)])  # one turn: read as a new latest turn
    context_batch_write([exchange(conversation, [TASK, ANSWER, edited], regenerated)])  # diverges at position 2

    assert stored(conversation) == [TASK, ANSWER, edited, regenerated]
    row = Conversation.objects.get(conversation_id=conversation)
    assert row.message_count == 4
    assert list(Message.objects.filter(conversation=row).order_by("position").values_list("position", flat=True)) \
        == [0, 1, 2, 3]


def test_the_conversation_keeps_its_first_block_and_its_latest_time():
    conversation = f"pin-{uuid.uuid4().hex[:8]}"
    later, earlier = timezone.now(), timezone.now() - timedelta(minutes=5)
    context_batch_write([exchange(conversation, [TASK], ANSWER, similar_ids=(7, 3), at=later)])
    follow_up = {"role": "user", "content": "Thanks, and the credit notes?"}
    # an exchange that reached the writer late (another process's batch) must not move the time back
    context_batch_write([exchange(conversation, [TASK, ANSWER, follow_up], ANSWER, similar_ids=(9,), at=earlier)])

    row = Conversation.objects.get(conversation_id=conversation)
    assert row.similar_ids == [7, 3]
    assert row.updated_at == later
    assert [digest for digest, _ in row.tail] and len(row.tail) == 4


def test_a_conversation_another_process_created_meanwhile_is_appended_to(monkeypatch):
    """The row is read as missing, then another writer inserts it first: this exchange is appended to theirs,
    neither lost nor stored as a second conversation."""
    from context import services

    conversation = f"race-{uuid.uuid4().hex[:8]}"
    context_batch_write([exchange(conversation, [TASK], CALL)])  # the other process's first exchange
    real = services._conversation_locked
    calls = []

    def missing_at_first(cursor, item):
        calls.append(item.request_id)
        return None if len(calls) == 1 else real(cursor, item)

    monkeypatch.setattr(services, "_conversation_locked", missing_at_first)
    context_batch_write([exchange(conversation, [TASK, CALL, RESULT], ANSWER)])

    assert len(calls) == 2  # the insert met the other row, which was then locked and appended to
    assert stored(conversation) == [TASK, CALL, RESULT, ANSWER]
    assert Conversation.objects.filter(conversation_id=conversation).count() == 1
    assert Conversation.objects.get(conversation_id=conversation).message_count == 4
