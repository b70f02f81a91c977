"""An immutable, in-memory picture of the routing configuration, and the holder that keeps it fresh.

The request path never queries the ORM: it reads the current snapshot. Admin edits invalidate it
in-process at commit; other processes notice through a version token they poll in the background.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from routing.background import run_in_db_thread

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    name: str
    kind: str
    base_url: str
    tier: str
    timeout_seconds: float
    enabled: bool
    key_env: str  # the variable an operator must set; empty when the provider needs no key
    api_key: str | None = field(default=None, repr=False)

    @property
    def needs_key(self) -> bool:
        return bool(self.key_env)

    @property
    def has_key(self) -> bool:
        return bool(self.api_key) or not self.needs_key


@dataclass(frozen=True, slots=True)
class ModelSpec:
    public_id: str
    provider: str
    upstream_name: str
    context_window: int = 0
    input_price_per_token: float = 0.0
    output_price_per_token: float = 0.0
    supports_tools: bool = True
    supports_vision: bool = False
    supports_json: bool = True
    enabled: bool = True
    fallbacks: tuple[str, ...] = ()
    created: int = 0  # unix seconds, shown by /v1/models

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return prompt_tokens * self.input_price_per_token + completion_tokens * self.output_price_per_token


@dataclass(frozen=True, slots=True)
class RankedModel:
    model: str
    kind: str  # primary | fallback | free_tier
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ProfileSpec:
    name: str
    tiers: tuple[str, ...]  # allowed tiers, most preferred first
    providers: frozenset[str] = frozenset()  # empty: every provider of an allowed tier

    def allows(self, provider: ProviderSpec) -> bool:
        if provider.tier not in self.tiers:
            return False
        return not self.providers or provider.name in self.providers


@dataclass(frozen=True, slots=True)
class RoutingSnapshot:
    providers: dict[str, ProviderSpec]
    models: dict[str, ModelSpec]
    rankings: dict[str, tuple[RankedModel, ...]]
    profiles: dict[str, ProfileSpec]
    roles: frozenset[str]
    default_profile: str
    supported_kinds: frozenset[str]
    built_at: float = 0.0


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
            token, value = await run_in_db_thread(self._load)
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
                token = await run_in_db_thread(self._fresh_token)
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


def monotonic_ms() -> float:
    return time.perf_counter() * 1000.0
