"""The gateway's own database work, off the event loop, in two separate executors.

- the writer (one thread): usage batches and journal replays, in order, on one long-lived connection;
- the readers (a small pool): snapshot builds, version polls, `/status`, and the per-request reads of
  later features (history, quota without Redis), so a read never waits behind a 200-row flush;
- the reports (a small pool): dashboard panels, which may take a few hundred milliseconds each and must
  never hold up a snapshot build or a `/status` read.

Not Django's per-request thread-sensitive executor: background work outlives the request that started
it, and long-lived threads keep their DB connections instead of opening one per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import ParamSpec, TypeVar

from django.conf import settings

P = ParamSpec("P")
R = TypeVar("R")

_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gateway-db-write")
_readers = ThreadPoolExecutor(max_workers=settings.GATEWAY_DB_READ_THREADS, thread_name_prefix="gateway-db-read")
REPORT_THREADS = 2
_reports = ThreadPoolExecutor(max_workers=REPORT_THREADS, thread_name_prefix="gateway-db-report")


def _run_in(executor: ThreadPoolExecutor, func: Callable[..., R], args: tuple, kwargs: dict) -> asyncio.Future[R]:
    """`func(*args, **kwargs)` in one of `executor`'s threads, as a future of the running loop.

    Straight through the loop's executor hand-off, not asgiref's sync_to_async: its context copy and thread
    bookkeeping cost about 0.1 ms of CPU per call, which a request that reads its conversation paid on every
    call. Nothing run here needs the caller's context variables (each thread keeps its own DB connection)."""
    return asyncio.get_running_loop().run_in_executor(executor, partial(func, *args, **kwargs))


async def run_write(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a write (usage batch, journal replay) in the single writer thread, after the ones before it."""
    return await _run_in(_writer, func, args, kwargs)


async def run_read(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a read in the reader pool: it never queues behind the writer."""
    return await _run_in(_readers, func, args, kwargs)


async def run_report(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a dashboard query in the report pool: slow panels queue behind each other, never behind the gateway."""
    return await _run_in(_reports, func, args, kwargs)


def close_db_thread_connections() -> None:
    """Close the background threads' connections (process shutdown, or before a test database is dropped).

    Each reader thread closes its own: one close task per thread, all submitted before any is awaited,
    with a barrier so that no thread takes two of them.
    """
    import threading

    from django.db import connections

    _writer.submit(connections.close_all).result(timeout=10)
    for pool, threads in ((_readers, settings.GATEWAY_DB_READ_THREADS), (_reports, REPORT_THREADS)):
        barrier = threading.Barrier(threads, timeout=5)

        def close_here(barrier: threading.Barrier = barrier) -> None:
            connections.close_all()
            try:
                barrier.wait()
            except threading.BrokenBarrierError:  # fewer threads started than the pool allows: nothing to close
                pass

        futures = [pool.submit(close_here) for _ in range(threads)]
        for future in futures:
            future.result(timeout=10)
