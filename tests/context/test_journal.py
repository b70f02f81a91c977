"""Exchanges not yet saved survive a process killed outright: they are in the journal (usage.journal with the
context codec) and the next process on the database saves them, once."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from context.journal import EXCHANGES
from context.models import Conversation, Interaction
from context.pending import ConversationKey, Exchange
from tests.conftest import dedicated_gateway
from tests.context.test_history_in_gateway import answer, chat, sent, stored, user
from tests.usage.test_journal import kill, segment_files


def test_an_exchange_round_trips_through_its_journal_line():
    call = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "t1", "type": "function", "function": {"name": "ls", "arguments": "{}"}}]}
    exchange = Exchange(ConversationKey("gw-abc", "personal", "c-1"), "gw-req",
                        datetime(2026, 12, 7, 8, 30, tzinfo=UTC), [user("Why is the export empty?")], call,
                        similar_ids=(4, 2))
    back = EXCHANGES.decode(EXCHANGES.encode(exchange))
    assert (back.key, back.request_id, back.created_at, back.turns, back.answer, back.similar_ids) == (
        exchange.key, exchange.request_id, exchange.created_at, exchange.turns, exchange.answer, (4, 2))
    assert back.replayed and not exchange.replayed
    assert EXCHANGES.encode(object()) is None  # token counts are not journaled


def test_sigkill_loses_no_turn_of_a_conversation(routing, upstream, tmp_path):
    conversation = f"kill-{uuid.uuid4().hex[:10]}"
    journal_dir = tmp_path / "journal"
    # Nothing is saved before the kill: a long flush interval and a batch larger than the three exchanges.
    env = {"CONTEXT_SAVE_FLUSH_INTERVAL": "60", "CONTEXT_SAVE_BATCH_SIZE": "100", "USAGE_JOURNAL_DIR": str(journal_dir)}
    turns = ["I keep bees on a balcony in Porto.", "Which flowers do they like in June?", "And in winter?"]
    with dedicated_gateway(tmp_path, **env) as first:
        first.sync_config()
        for text in turns:  # a chat client: only its latest turn, the history comes from the gateway
            chat(first, [user(text)], conversation_id=conversation)
        assert first.status()["context_exchanges_pending"] == 3
        kill(first)
    assert not Conversation.objects.filter(conversation_id=conversation).exists()
    [database_dir] = journal_dir.iterdir()
    assert len(segment_files(database_dir / "context")) == 1

    with dedicated_gateway(tmp_path, **env) as second:  # replays when it starts
        history = [message for text in turns for message in (user(text), answer(text))]
        assert stored(conversation, 6, timeout=15) == history
        deadline = time.monotonic() + 10
        while segment_files(database_dir / "context") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert segment_files(database_dir / "context") == []  # replayed, then deleted
        upstream.reset()
        chat(second, [user("How many hives fit?")], conversation_id=conversation)
        assert sent(upstream) == [*history, user("How many hives fit?")]
    assert len(stored(conversation, 8)) == 8  # and nothing saved twice
    assert Interaction.objects.filter(conversation__conversation_id=conversation).count() == 4
