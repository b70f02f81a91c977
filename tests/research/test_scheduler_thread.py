"""The embedded scheduler's thread outlives a database that is down: every failure waits for the next poll."""

from __future__ import annotations

import threading
import time

from django.db import OperationalError

from research import scheduler


def test_the_thread_keeps_polling_when_the_database_is_unreachable(monkeypatch):
    polls: list[float] = []
    two_more = threading.Event()

    def due_tasks_run() -> list[str]:
        polls.append(time.monotonic())
        if len(polls) >= 3:
            two_more.set()
        raise OperationalError("connection refused")

    def close_old_connections() -> None:  # checking a connection reconnects, and that fails too
        raise OperationalError("connection refused")

    monkeypatch.setattr(scheduler, "due_tasks_run", due_tasks_run)
    monkeypatch.setattr(scheduler, "close_old_connections", close_old_connections)
    embedded = scheduler.EmbeddedScheduler()
    embedded.start(0.01)
    try:
        assert two_more.wait(5), f"the scheduler stopped after {len(polls)} poll(s)"
        assert embedded._thread is not None and embedded._thread.is_alive()
    finally:
        embedded.stop(timeout=5)
    assert not embedded._thread.is_alive()  # asked to stop while waiting for its next poll: it ends at once
