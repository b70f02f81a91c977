"""Exchanges saved by a child process (context.writer_process): through a real gateway, and the parent's side
alone against the test database. What a user sees: every turn stored once, whatever happens to the child."""

from __future__ import annotations

import os
import signal
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from context.journal import EXCHANGES
from context.models import Conversation, Interaction
from context.pending import ConversationKey, Exchange, TokenCounts
from context.services import answer_message
from context.writer_process import WriterProcess, batch_decode, batch_encode
from tests.conftest import database_env, dedicated_gateway
from tests.context.test_history_in_gateway import answer, chat, stored, user
from tests.usage.test_journal import kill


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; its parent has not reaped it yet


def _nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


def _conversation() -> str:
    return f"wp-{uuid.uuid4().hex[:12]}"


def _ready_child(gateway, timeout: float = 30.0) -> dict:
    """The writer's /status entry once its child is ready (it starts with the first exchange to save)."""
    deadline = time.monotonic() + timeout
    while not (writer := gateway.status()["context_writer"])["ready"] and time.monotonic() < deadline:
        time.sleep(0.05)
    return writer


def test_a_gateway_saves_exchanges_in_a_niced_child_that_ends_with_it(routing, upstream, tmp_path):
    conversation = _conversation()
    turns = ["Our CSV export drops the header row.", "It started after the pandas upgrade.", "Fixed, thanks!"]
    with dedicated_gateway(tmp_path, CONTEXT_WRITER_NICE="7") as gateway:
        gateway.sync_config()
        assert gateway.status()["context_writer"] == {"pid": None, "ready": False, "batches": 0,
                                                      "written_in_gateway": 0, "started": 0}
        chat(gateway, [user(turns[0])], conversation_id=conversation)  # saved by the gateway while a child starts
        started = _ready_child(gateway)
        assert started["ready"] and started["pid"] not in (None, gateway.process.pid)
        for text in turns[1:]:
            chat(gateway, [user(text)], conversation_id=conversation)
        history = [message for text in turns for message in (user(text), answer(text))]
        assert stored(conversation, 6) == history
        gateway.drain_usage()
        writer = gateway.status()["context_writer"]
        assert writer["pid"] == started["pid"] and writer["batches"] >= 1
        assert writer["written_in_gateway"] == started["written_in_gateway"]  # none since the child was ready
        assert _nice(writer["pid"]) == 7
    assert gateway.process.returncode is not None
    assert _gone(writer["pid"])  # the gateway's shutdown closed its pipe
    assert Interaction.objects.filter(conversation__conversation_id=conversation).count() == 3


def test_a_killed_child_loses_no_exchange_and_a_killed_gateway_leaves_no_child(routing, upstream, tmp_path):
    conversation = _conversation()
    with dedicated_gateway(tmp_path) as gateway:
        gateway.sync_config()
        chat(gateway, [user("Which index does the orders query miss?")], conversation_id=conversation)
        child = _ready_child(gateway)["pid"]
        os.kill(child, signal.SIGKILL)
        assert _gone(child)

        chat(gateway, [user("And for the refunds query?")], conversation_id=conversation)
        assert len(stored(conversation, 4)) == 4  # written by the gateway itself: no new child for 30 s
        gateway.drain_usage()
        writer = gateway.status()["context_writer"]
        assert writer["pid"] is None and writer["started"] == 1
        assert "context writer process exited with status -9" in gateway.logs()

    with dedicated_gateway(tmp_path) as gateway:
        gateway.sync_config()
        chat(gateway, [user("Does a partial index help here?")], conversation_id=conversation)
        assert len(stored(conversation, 6)) == 6
        child = _ready_child(gateway)["pid"]
        kill(gateway)  # SIGKILL: no shutdown hook runs, the pipe closes with the process
    assert _gone(child)
    assert Interaction.objects.filter(conversation__conversation_id=conversation).count() == 3


@pytest.fixture
def writer(transactional_db, monkeypatch):
    """A writer process on this test's database, as a gateway on it would start one."""
    for name in ("DATABASE_URL", "DB_PATH"):
        monkeypatch.delenv(name, raising=False)
    for name, value in database_env().items():
        monkeypatch.setenv(name, value)
    process = WriterProcess(nice=3, respawn_after=0.0)
    yield process
    process.stop()


def _exchange(conversation: str, text: str) -> Exchange:
    return Exchange(ConversationKey("gw-test", "personal", conversation), f"req-{uuid.uuid4().hex}",
                    datetime.now(UTC), [user(text)], answer_message(f"answer to {text}", []))


def test_a_new_child_takes_over_and_an_exchange_sent_again_is_stored_once(writer):
    conversation = _conversation()
    first = _exchange(conversation, "Why does the cron job run twice?")
    assert writer.write([first]) is None  # the first batch starts a child; the caller writes it meanwhile
    assert writer.start(wait=30)
    assert writer.write([first]) == 1  # sent again: stored once
    child = writer.pid
    os.kill(child, signal.SIGKILL)
    assert _gone(child)

    second = _exchange(conversation, "It is in two crontabs.")
    assert writer.write([first, second]) is None  # the dead child is noticed, a new one starts (respawn_after=0)
    assert writer.start(wait=30) and writer.pid not in (None, child)
    assert writer.write([first, second]) == 2  # the first is not stored twice
    assert writer.report() == {"pid": writer.pid, "ready": True, "batches": 2, "written_in_gateway": 2,
                               "started": 2}
    assert len(stored(conversation, 4)) == 4
    assert Conversation.objects.filter(conversation_id=conversation).count() == 1
    assert Interaction.objects.filter(conversation__conversation_id=conversation).count() == 2


def test_after_stop_the_child_is_gone_and_batches_are_left_to_the_caller(writer):
    assert writer.start(wait=30)
    assert writer.write([_exchange(_conversation(), "Rename the column.")]) == 1
    child = writer.pid
    writer.stop()
    assert _gone(child)
    assert writer.write([_exchange(_conversation(), "And the index?")]) is None
    assert not writer.start(wait=1)


def test_a_child_that_cannot_start_leaves_the_batch_to_the_caller(writer, monkeypatch):
    monkeypatch.setattr("context.writer_process.sys.executable", "/nonexistent/python")
    assert writer.write([_exchange(_conversation(), "Hello")]) is None
    assert not writer.start(wait=1)
    assert writer.report() == {"pid": None, "ready": False, "batches": 0, "written_in_gateway": 1, "started": 0}


def test_a_batch_crosses_the_pipe_whole_and_an_exchange_goes_as_its_journal_line():
    live = _exchange("c-1", "Line one\nline two\r\n\u2028 and a tab\t")
    EXCHANGES.encode(live)  # as the journal does when the request path records it
    live.line = live.line.replace(b"Line one", b"Line 1", 1)  # the bytes sent are the kept line's, not a new encoding
    replayed = _exchange("c-2", "Hello")
    replayed.replayed = True
    counts = TokenCounts([(7, 120), (8, 3)])

    back = batch_decode(batch_encode([live, counts, replayed]))

    assert [type(item) for item in back] == [Exchange, TokenCounts, Exchange]
    assert back[0].turns == [user("Line 1\nline two\r\n\u2028 and a tab\t")]
    assert (back[0].key, back[0].request_id, back[0].created_at, back[0].answer) == (
        live.key, live.request_id, live.created_at, live.answer)
    assert not back[0].replayed and back[2].replayed  # a replayed exchange may be stored already
    assert back[1].counts == [(7, 120), (8, 3)]
    with pytest.raises(TypeError):
        batch_encode([object()])


def test_a_child_that_dies_in_the_middle_of_a_batch_leaves_the_batch_to_the_caller(writer):
    assert writer.start(wait=30)
    child = writer.pid
    broken = _exchange(_conversation(), "Which line is torn?")
    broken.line = b'["torn'  # what the child cannot read: it exits with the batch unanswered
    assert writer.write([broken]) is None
    assert _gone(child)
    assert writer.report()["written_in_gateway"] == 1 and writer.report()["pid"] is None
