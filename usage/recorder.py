"""Usage rows leave the response path: buffered in memory, written in batches, flushed at shutdown.

`record` never blocks and never touches the database. A background task writes a batch every
USAGE_FLUSH_INTERVAL seconds (or sooner when USAGE_BATCH_SIZE rows wait). A failed write keeps its
rows for the next try. At shutdown the buffer is flushed (core.lifecycle: the ASGI lifespan or,
under Daphne, a Twisted shutdown trigger), and from `atexit` for anything left.

With a journal (usage.journal), `record` first appends the event there, so a process killed before
its flush loses nothing: the task replays dead processes' journals when it starts and every
`replay_interval` seconds, and tells the journal which events are committed so it can drop segments.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence

from core.background import run_write
from usage.events import UsageEvent
from usage.journal import Journal, Segment

logger = logging.getLogger(__name__)

Entry = tuple[UsageEvent, Segment | None]  # an event and the journal segment holding it


class UsageRecorder:
    def __init__(
        self,
        write: Callable[[Sequence[UsageEvent]], int],
        *,
        flush_interval: float,
        batch_size: int,
        journal: Journal | None = None,
        replay_interval: float = 60.0,
        on_written: Callable[[Sequence[UsageEvent]], None] | None = None,
    ) -> None:
        self._write = write
        self._flush_interval = flush_interval
        self._batch_size = batch_size
        self._journal = journal
        self._replay_interval = replay_interval
        self._on_written = [on_written] if on_written is not None else []  # told of each committed batch
        self._buffer: list[Entry] = []
        self._lock = threading.Lock()  # record() may be called from sync code too
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._hooks_installed = False
        self._in_flight = 0
        self.written = 0
        self.replayed = 0  # rows written again from dead processes' journals

    @property
    def pending(self) -> int:
        """Rows not yet committed: buffered, or in a batch being written."""
        return len(self._buffer) + self._in_flight

    def record(self, event: UsageEvent) -> None:
        segment = self._journal.append(event) if self._journal is not None else None
        with self._lock:
            self._buffer.append((event, segment))
            size = len(self._buffer)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # sync caller: the next flush (or atexit) writes it
        self._ensure_task(loop)
        if size >= self._batch_size and self._wake is not None:
            self._wake.set()

    def start(self) -> None:
        """Start the background task now (it replays dead processes' journals first). Needs a running loop."""
        self._ensure_task(asyncio.get_running_loop())

    def _ensure_task(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._task is not None and not self._task.done() and self._loop is loop:
            return
        self._loop = loop
        self._wake = asyncio.Event()
        self._task = loop.create_task(self._run(), name="usage-recorder")
        self._install_shutdown_hooks()

    async def _run(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        next_replay = loop.time()
        while True:
            if self._journal is not None and loop.time() >= next_replay:
                await self.replay_orphans()
                next_replay = loop.time() + self._replay_interval
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._flush_interval)
            except TimeoutError:
                pass
            self._wake.clear()
            await self.flush()

    async def replay_orphans(self) -> int:
        """Write the rows of dead processes' journal segments (idempotent). Never raises."""
        journal = self._journal
        if journal is None:
            return 0
        replayed = 0
        try:
            for path in await run_write(journal.orphans):
                result = await run_write(journal.replay, path, self._write)
                if result is not None:
                    logger.info("replayed %d items from a dead process's journal %s", result.events, path)
                    replayed += result.events
        except Exception:
            logger.exception("replaying journals in %s failed; trying again in %.0f s", journal.directory,
                             self._replay_interval)
        self.replayed += replayed
        return replayed

    def _take(self) -> list[Entry]:
        with self._lock:
            batch, self._buffer = self._buffer, []
        return batch

    def _put_back(self, batch: list[Entry]) -> None:
        with self._lock:
            self._buffer[:0] = batch

    def _commit(self, batch: list[Entry]) -> int:
        """Write a batch (in the calling thread), then let the journal drop what is now committed."""
        written = self._write([event for event, _ in batch])
        if self._journal is not None:
            self._journal.committed(Counter(segment for _, segment in batch if segment is not None))
        return written

    async def flush(self) -> int:
        """Write everything buffered now. On failure the rows stay buffered for the next attempt."""
        batch = self._take()
        if not batch:
            return 0
        self._in_flight += len(batch)
        try:
            written = await run_write(self._commit, batch)
        except Exception:
            logger.exception("writing %d usage rows failed; keeping them for the next flush", len(batch))
            self._put_back(batch)
            return 0
        finally:
            self._in_flight -= len(batch)
        self.written += written
        if self._on_written:
            events = [event for event, _ in batch]
            for listener in self._on_written:
                try:
                    listener(events)
                except Exception:
                    logger.exception("a usage subscriber failed on a written batch")
        return written

    def on_written(self, listener: Callable[[Sequence[UsageEvent]], None]) -> None:
        """Call `listener(events)` in the event loop after each batch commits (live feed, metrics). Quick only."""
        if listener not in self._on_written:
            self._on_written.append(listener)

    def flush_sync(self) -> int:
        """For sync callers and interpreter exit: write what is left in the calling thread."""
        batch = self._take()
        if not batch:
            return 0
        try:
            written = self._commit(batch)
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
        if self._journal is not None:
            await run_write(self._journal.close)

    def close_sync(self) -> None:
        """At interpreter exit: write what is left, then delete the journal segments now committed."""
        self.flush_sync()
        if self._journal is not None:
            self._journal.close()

    def _install_shutdown_hooks(self) -> None:
        if self._hooks_installed:
            return
        self._hooks_installed = True
        atexit.register(self.close_sync)  # the last resort; servers flush through core.lifecycle first
