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

from context.models import Conversation, Interaction
from context.pending import ConversationKey, Exchange
from context.services import answer_message
from context.writer_process import WriterProcess
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


def test_a_gateway_saves_exchanges_in_a_niced_child_that_ends_with_it(routing, upstream, tmp_path):
    conversation = _conversation()
    turns = ["Our CSV export drops the header row.", "It started after the pandas upgrade.", "Fixed, thanks!"]
    with dedicated_gateway(tmp_path, CONTEXT_WRITER_NICE="7") as gateway:
        gateway.sync_config()
        for text in turns:
            chat(gateway, [user(text)], conversation_id=conversation)
        assert stored(conversation, 6) == [message for text in turns for message in (user(text), answer(text))]
        gateway.drain_usage()
        writer = gateway.status()["context_writer"]
        child = writer["pid"]
        assert child is not None and child != gateway.process.pid
        assert writer["batches"] >= 1 and writer["written_in_gateway"] == 0
        assert _nice(child) == 7
    assert gateway.process.returncode is not None
    assert _gone(child)  # the gateway's shutdown closed its pipe
    assert Interaction.objects.filter(conversation__conversation_id=conversation).count() == 3


def test_a_killed_child_loses_no_exchange_and_a_killed_gateway_leaves_no_child(routing, upstream, tmp_path):
    conversation = _conversation()
    with dedicated_gateway(tmp_path) as gateway:
        gateway.sync_config()
        chat(gateway, [user("Which index does the orders query miss?")], conversation_id=conversation)
        stored(conversation, 2)
        gateway.drain_usage()
        child = gateway.status()["context_writer"]["pid"]
        os.kill(child, signal.SIGKILL)
        assert _gone(child)

        chat(gateway, [user("And for the refunds query?")], conversation_id=conversation)
        assert len(stored(conversation, 4)) == 4  # written by the gateway itself: no child for 30 s
        gateway.drain_usage()
        writer = gateway.status()["context_writer"]
        assert writer["pid"] is None and writer["written_in_gateway"] >= 1
        assert "context writer process exited" in gateway.logs() or "writer process failed" in gateway.logs()

    with dedicated_gateway(tmp_path) as gateway:
        gateway.sync_config()
        chat(gateway, [user("Does a partial index help here?")], conversation_id=conversation)
        assert len(stored(conversation, 6)) == 6
        gateway.drain_usage()
        child = gateway.status()["context_writer"]["pid"]
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
    assert writer.write([first]) == 1
    child = writer.pid
    os.kill(child, signal.SIGKILL)
    assert _gone(child)

    second = _exchange(conversation, "It is in two crontabs.")
    assert writer.write([first, second]) == 2  # a new child (respawn_after=0); the first is not stored twice
    assert writer.pid not in (None, child)
    assert writer.report() == {"pid": writer.pid, "batches": 2, "written_in_gateway": 0, "started": 2}
    assert len(stored(conversation, 4)) == 4
    assert Conversation.objects.filter(conversation_id=conversation).count() == 1
    assert Interaction.objects.filter(conversation__conversation_id=conversation).count() == 2


def test_after_stop_the_child_is_gone_and_batches_are_left_to_the_caller(writer):
    assert writer.write([_exchange(_conversation(), "Rename the column.")]) == 1
    child = writer.pid
    writer.stop()
    assert _gone(child)
    assert writer.write([_exchange(_conversation(), "And the index?")]) is None


def test_a_child_that_cannot_start_leaves_the_batch_to_the_caller(writer, monkeypatch):
    monkeypatch.setattr("context.writer_process.sys.executable", "/nonexistent/python")
    assert writer.write([_exchange(_conversation(), "Hello")]) is None
    assert writer.report()["pid"] is None
