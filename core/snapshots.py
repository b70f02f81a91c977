"""A per-process snapshot of configuration rows, rebuilt when an edit invalidates it.

Edits invalidate it in-process at commit (`invalidate_on_commit`); other processes notice through a
version token (core.versions) they poll in the background. Used for routing, gateway keys, role strategies,
context policies and MCP servers: one poll serves them all (`_TokenPoll`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from core import versions
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
        self._poll: _TokenPoll | None = None
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
        poll = self._poll
        if poll is not None and poll.alive(asyncio.get_running_loop()):
            return
        self._poll = _TokenPoll.of_running_loop()
        self._poll.add(self)

    async def _token_moved(self, token: str | None) -> None:
        """The poll read `token`: rebuild when it is not the one the snapshot was built from."""
        if token == self._token:
            return
        self.invalidate()
        try:
            await self._rebuild()
        except Exception:
            logger.exception("could not rebuild the %s snapshot", self._name)


class _TokenPoll:
    """The background poll of every snapshot holder of an event loop: each tick, one trip to a reader thread
    reads all their tokens in one query (`versions.read_once`), instead of a task, a thread hop and a query per
    holder. An idle test gateway, polling every 50 ms, spent about a tenth of a core on five separate polls.

    Ticks at the shortest refresh interval of its holders: a holder may be polled more often than it asks,
    never less."""

    _by_loop: dict[asyncio.AbstractEventLoop, _TokenPoll] = {}

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.holders: list[SnapshotHolder[Any]] = []
        self.task = loop.create_task(self._run(), name="snapshot-token-poller")

    @classmethod
    def of_running_loop(cls) -> _TokenPoll:
        loop = asyncio.get_running_loop()
        poll = cls._by_loop.get(loop)
        if poll is None or not poll.alive(loop):
            cls._by_loop = {other: p for other, p in cls._by_loop.items() if not other.is_closed()}
            poll = cls._by_loop[loop] = cls(loop)
        return poll

    def alive(self, loop: asyncio.AbstractEventLoop) -> bool:
        return self.loop is loop and not self.task.done()

    def add(self, holder: SnapshotHolder[Any]) -> None:
        if holder not in self.holders:
            self.holders.append(holder)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(min(holder._refresh_seconds for holder in self.holders))
            holders = list(self.holders)
            try:
                tokens = await run_read(_read_tokens, holders)
            except Exception:  # a DB hiccup must not kill the poll; the next tick retries
                logger.warning("could not read the config versions", exc_info=True)
                continue
            for holder, (read, token) in zip(holders, tokens, strict=True):
                if read:
                    await holder._token_moved(token)


def _read_tokens(holders: list[SnapshotHolder[Any]]) -> list[tuple[bool, str | None]]:
    """Each holder's current token, as (read, token): a holder whose read fails is left as it is this tick."""
    from django.db import close_old_connections

    close_old_connections()
    tokens = []
    with versions.read_once():
        for holder in holders:
            try:
                tokens.append((True, holder._read_token()))
            except Exception:
                logger.warning("could not read the %s config version", holder._name, exc_info=True)
                tokens.append((False, None))
    return tokens
