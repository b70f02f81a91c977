"""The gateway's own database work, off the event loop, in three separate sets of threads.

- the writer (one thread): usage batches and journal replays, in order, on one long-lived connection;
- the readers (a small pool): snapshot builds, version polls, `/status`, and the per-request reads of
  later features (history, quota without Redis), so a read never waits behind a 200-row flush;
- the reports (a few threads): dashboard panels, which may take a few hundred milliseconds each and must
  never hold up a snapshot build or a `/status` read.

Not Django's per-request thread-sensitive executor: background work outlives the request that started
it, and long-lived threads keep their DB connections instead of opening one per request.

The readers and the reports are not a ThreadPoolExecutor either: a request that reads its conversation waits
on a reader, and the executor's hand-off (a concurrent future with its condition, chained to an asyncio future)
took about 48 µs per trip on one core, against about 24 µs for a job queue whose thread hands the outcome
straight to the loop (`ThreadLane`; bench/micro.py, "read hand-off").
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, ParamSpec, TypeVar

from django.conf import settings

P = ParamSpec("P")
R = TypeVar("R")


def _settle(future: asyncio.Future, outcome: Any, failed: bool) -> None:
    """In the loop: the job's outcome into its future, unless the awaiting task gave up on it (cancelled)."""
    if future.done():
        return
    if failed:
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class ThreadLane:
    """A fixed set of threads taking jobs from one queue; each outcome goes back to the caller's loop with one
    `call_soon_threadsafe`. The threads start with the first job and never exit (daemons: a read in flight at
    interpreter exit has no one left to answer)."""

    def __init__(self, threads: int, name: str) -> None:
        self.threads, self._name = threads, name
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._started = False
        self._start_lock = threading.Lock()

    def run(self, func: Callable[[], R]) -> asyncio.Future[R]:
        """`func()` in one of the threads, as a future of the running loop."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._ensure_started()
        self._jobs.put((func, loop, future))
        return future

    def in_each_thread(self, func: Callable[[], object], timeout: float) -> None:
        """`func()` once in every thread, waited for here (shutdown and tests, outside any loop): one job per
        thread, all queued before any is waited for, each held at a barrier so that no thread takes two.
        Threads not started yet hold nothing: nothing to do."""
        if not self._started:
            return
        barrier = threading.Barrier(self.threads, timeout=timeout)
        finished: list[threading.Event] = []
        errors: list[BaseException] = []

        def once() -> None:
            try:
                func()
            except BaseException as error:  # noqa: BLE001 - re-raised in the waiting thread
                errors.append(error)
            barrier.wait()

        for _ in range(self.threads):
            done = threading.Event()
            finished.append(done)
            self._jobs.put((once, None, done))
        for done in finished:
            if not done.wait(timeout):
                raise TimeoutError(f"{self._name}: a thread did not take its job within {timeout} s")
        if errors:
            raise errors[0]

    def _ensure_started(self) -> None:
        if self._started:
            return
        with self._start_lock:
            if not self._started:
                for index in range(self.threads):
                    threading.Thread(target=self._work, name=f"{self._name}_{index}", daemon=True).start()
                self._started = True

    def _work(self) -> None:
        while True:
            func, loop, future = self._jobs.get()
            try:
                outcome, failed = func(), False
            except BaseException as error:  # noqa: BLE001 - handed to the caller, who raises it
                outcome, failed = error, True
            if loop is None:  # in_each_thread: it collects errors itself
                future.set()
                continue
            try:
                loop.call_soon_threadsafe(_settle, future, outcome, failed)
            except RuntimeError:  # the loop closed meanwhile: no one is waiting
                pass
            del func, loop, future, outcome  # nothing of a finished job kept alive until the next one


_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gateway-db-write")
_readers = ThreadLane(settings.GATEWAY_DB_READ_THREADS, "gateway-db-read")
REPORT_THREADS = 2
_reports = ThreadLane(REPORT_THREADS, "gateway-db-report")


async def run_write(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a write (usage batch, journal replay) in the single writer thread, after the ones before it.

    Straight through the loop's executor hand-off, not asgiref's sync_to_async: its context copy and thread
    bookkeeping cost about 0.1 ms of CPU per call. Nothing run in these threads needs the caller's context
    variables (each thread keeps its own DB connection)."""
    return await asyncio.get_running_loop().run_in_executor(_writer, partial(func, *args, **kwargs))


async def run_read(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a read in the reader threads: it never queues behind the writer."""
    return await _readers.run(partial(func, *args, **kwargs))


async def run_report(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a dashboard query in the report threads: slow panels queue behind each other, never behind the gateway."""
    return await _reports.run(partial(func, *args, **kwargs))


def close_db_thread_connections() -> None:
    """Close the background threads' connections (process shutdown, or before a test database is dropped).

    Each reader and report thread closes its own (`ThreadLane.in_each_thread`).
    """
    from django.db import connections

    _writer.submit(connections.close_all).result(timeout=10)
    _readers.in_each_thread(connections.close_all, timeout=10)
    _reports.in_each_thread(connections.close_all, timeout=10)
