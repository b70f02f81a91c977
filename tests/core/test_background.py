"""The reader and report threads' hand-off (core.background.ThreadLane): results, errors, cancellation,
per-thread jobs."""

from __future__ import annotations

import asyncio
import threading

import pytest

from core.background import ThreadLane


def test_results_and_errors_reach_the_awaiting_coroutine_from_the_lane_threads():
    lane = ThreadLane(2, "test-lane")

    async def scenario():
        names = await asyncio.gather(*(lane.run(lambda: threading.current_thread().name) for _ in range(20)))
        with pytest.raises(ZeroDivisionError):
            await lane.run(lambda: 1 / 0)
        return names

    names = asyncio.run(scenario())
    assert set(names) <= {"test-lane_0", "test-lane_1"}
    assert threading.current_thread().name not in names


def test_a_cancelled_wait_leaves_the_lane_working():
    lane = ThreadLane(1, "test-lane-cancel")
    release = threading.Event()

    async def scenario():
        slow = asyncio.ensure_future(lane.run(lambda: release.wait(5)))
        await asyncio.sleep(0.01)
        slow.cancel()
        release.set()  # the job ends after its waiter gave up: its outcome is dropped, not raised anywhere
        with pytest.raises(asyncio.CancelledError):
            await slow
        return await lane.run(lambda: "next")

    assert asyncio.run(scenario()) == "next"


def test_in_each_thread_runs_once_in_every_thread_and_raises_what_failed():
    lane = ThreadLane(3, "test-lane-each")
    assert lane.in_each_thread(lambda: 1 / 0, timeout=1) is None  # not started: no thread holds anything

    async def start():
        await asyncio.wait_for(lane.run(lambda: None), 5)

    asyncio.run(start())
    seen: list[str] = []
    lock = threading.Lock()

    def note() -> None:
        with lock:
            seen.append(threading.current_thread().name)

    lane.in_each_thread(note, timeout=5)
    assert sorted(seen) == ["test-lane-each_0", "test-lane-each_1", "test-lane-each_2"]
    with pytest.raises(ZeroDivisionError):
        lane.in_each_thread(lambda: 1 / 0, timeout=5)
