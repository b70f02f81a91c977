"""Usage rows leave the response path: buffered in memory, written in batches, flushed at shutdown.

`record` never blocks and never touches the database. A background task writes a batch every
USAGE_FLUSH_INTERVAL seconds (or sooner when USAGE_BATCH_SIZE rows wait). A failed write keeps its
rows for the next try. At shutdown the buffer is flushed (routing.lifecycle: the ASGI lifespan or,
under Daphne, a Twisted shutdown trigger), and from `atexit` for anything left.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
from collections.abc import Callable, Sequence

from routing.background import run_in_db_thread
from usage.events import UsageEvent

logger = logging.getLogger(__name__)


class UsageRecorder:
    def __init__(
        self, write: Callable[[Sequence[UsageEvent]], int], *, flush_interval: float, batch_size: int
    ) -> None:
        self._write = write
        self._flush_interval = flush_interval
        self._batch_size = batch_size
        self._buffer: list[UsageEvent] = []
        self._lock = threading.Lock()  # record() may be called from sync code too
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._hooks_installed = False
        self._in_flight = 0
        self.written = 0

    @property
    def pending(self) -> int:
        """Rows not yet committed: buffered, or in a batch being written."""
        return len(self._buffer) + self._in_flight

    def record(self, event: UsageEvent) -> None:
        with self._lock:
            self._buffer.append(event)
            size = len(self._buffer)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # sync caller: the next flush (or atexit) writes it
        self._ensure_task(loop)
        if size >= self._batch_size and self._wake is not None:
            self._wake.set()

    def _ensure_task(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._task is not None and not self._task.done() and self._loop is loop:
            return
        self._loop = loop
        self._wake = asyncio.Event()
        self._task = loop.create_task(self._run(), name="usage-recorder")
        self._install_shutdown_hooks()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._flush_interval)
            except TimeoutError:
                pass
            self._wake.clear()
            await self.flush()

    def _take(self) -> list[UsageEvent]:
        with self._lock:
            batch, self._buffer = self._buffer, []
        return batch

    def _put_back(self, batch: list[UsageEvent]) -> None:
        with self._lock:
            self._buffer[:0] = batch

    async def flush(self) -> int:
        """Write everything buffered now. On failure the rows stay buffered for the next attempt."""
        batch = self._take()
        if not batch:
            return 0
        self._in_flight += len(batch)
        try:
            written = await run_in_db_thread(self._write, batch)
        except Exception:
            logger.exception("writing %d usage rows failed; keeping them for the next flush", len(batch))
            self._put_back(batch)
            return 0
        finally:
            self._in_flight -= len(batch)
        self.written += written
        return written

    def flush_sync(self) -> int:
        """For sync callers and interpreter exit: write what is left in the calling thread."""
        batch = self._take()
        if not batch:
            return 0
        try:
            written = self._write(batch)
        except Exception:
            logger.exception("could not write %d usage rows at shutdown", len(batch))
            self._put_back(batch)
            return 0
        self.written += written
        return written

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
        await self.flush()

    def _install_shutdown_hooks(self) -> None:
        if self._hooks_installed:
            return
        self._hooks_installed = True
        atexit.register(self.flush_sync)  # the last resort; servers flush through routing.lifecycle first
