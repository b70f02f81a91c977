"""A per-process snapshot of configuration rows, rebuilt when an edit invalidates it.

Edits invalidate it in-process at commit (`invalidate_on_commit`); other processes notice through a
version token (core.versions) they poll in the background. Used for routing and for gateway keys.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from core.background import run_read

logger = logging.getLogger(__name__)


T = TypeVar("T")


class SnapshotHolder(Generic[T]):
    """Holds one snapshot per process; rebuilt on local invalidation or when the version token moves.

    `build` and `read_token` are sync ORM functions; they run in the gateway's DB thread, never on the
    event loop. Requests pay for a rebuild only right after a local edit; remote edits are picked up
    by a background poller, so a request never waits on the version check.
    """

    def __init__(
        self,
        build: Callable[[], T],
        read_token: Callable[[], str | None],
        refresh_seconds: float,
        name: str = "routing",
    ):
        self._build = build
        self._read_token = read_token
        self._refresh_seconds = refresh_seconds
        self._name = name
        self._current: T | None = None
        self._token: str | None = None
        self._stale = True
        self._generation = 0  # bumped by every invalidation
        self._lock: asyncio.Lock | None = None
        self._poller: asyncio.Task | None = None
        self._poller_loop: asyncio.AbstractEventLoop | None = None
        self._thread_lock = threading.Lock()

    def invalidate(self) -> None:
        """Safe from any thread: the next `get` returns a snapshot built after this call."""
        self._generation += 1
        self._stale = True

    def current_or_none(self) -> T | None:
        return self._current

    @property
    def token(self) -> str | None:
        """The config version the current snapshot was built from."""
        return self._token

    async def get(self) -> T:
        current = self._current
        if current is not None and not self._stale:
            self._ensure_poller()
            return current
        return await self._rebuild()

    def get_sync(self) -> T:
        """For sync callers (commands, admin): builds in the calling thread when needed."""
        with self._thread_lock:
            if self._current is None or self._stale:
                generation = self._generation
                token, value = self._read_token(), self._build()
                self._token, self._current = token, value
                self._stale = generation != self._generation
            return self._current

    async def _rebuild(self) -> T:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._current is not None and not self._stale:
                return self._current
            # Stale stays set until this load is in: a request arriving meanwhile waits for it rather
            # than being served the snapshot an edit has just replaced.
            generation = self._generation
            token, value = await run_read(self._load)
            self._token, self._current = token, value
            self._stale = generation != self._generation  # invalidated again while loading: next get rebuilds
        self._ensure_poller()
        return value

    def _load(self) -> tuple[str | None, T]:
        from django.db import close_old_connections

        close_old_connections()
        # Read the token first: an edit landing between the two reads is picked up by the next poll.
        return self._read_token(), self._build()

    def _ensure_poller(self) -> None:
        loop = asyncio.get_running_loop()
        if self._poller is not None and not self._poller.done() and self._poller_loop is loop:
            return
        self._poller_loop = loop
        self._poller = loop.create_task(self._poll(), name=f"{self._name}-snapshot-poller")

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_seconds)
            try:
                token = await run_read(self._fresh_token)
            except Exception:  # a DB hiccup must not kill the poller; the next tick retries
                logger.warning("could not read the %s config version", self._name, exc_info=True)
                continue
            if token != self._token:
                self.invalidate()
                try:
                    await self._rebuild()
                except Exception:
                    logger.exception("could not rebuild the %s snapshot", self._name)

    def _fresh_token(self) -> str | None:
        from django.db import close_old_connections

        close_old_connections()
        return self._read_token()
