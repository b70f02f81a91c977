"""The role each conversation was last routed by, so an agent loop keeps its model between tool calls.

In memory, per process: a bounded map (least recently used entries go first) whose entries expire after a TTL.
With REDIS_URL the decisions are also shared through Redis, so a conversation whose turns land on different
processes keeps its role: a decision is written there in the background (never awaited by the request), and
read there only when this process has none for a conversation whose latest turn is not a new task, with a
short timeout; Redis being down only costs the stickiness.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

import orjson

logger = logging.getLogger(__name__)
REDIS_PREFIX = "gw:role:"
REDIS_TIMEOUT_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class Decision:
    role: str
    source: str
    confidence: float


class StickyRoles:
    def __init__(self, max_entries: int, ttl_seconds: float, redis_url: str = "") -> None:
        self._max = max_entries
        self._ttl = ttl_seconds
        self._entries: OrderedDict[tuple[str, str], tuple[float, Decision]] = OrderedDict()
        self._redis_url = redis_url
        self._client = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._writes: set[asyncio.Task] = set()

    async def lookup(self, key: tuple[str, str]) -> Decision | None:
        """This process's decision for the conversation, else the one shared in Redis (when configured)."""
        decision = self.get(key)
        if decision is not None or not self._redis_url:
            return decision
        try:
            raw = await asyncio.wait_for(self._redis().get(_redis_key(key)), REDIS_TIMEOUT_SECONDS)
        except Exception:  # Redis slow or down: no stickiness for this turn, never an error
            logger.warning("sticky role lookup in Redis failed", exc_info=True)
            return None
        if raw is None:
            return None
        role, source, confidence = orjson.loads(raw)
        decision = Decision(role, source, confidence)
        self.put(key, decision, share=False)
        return decision

    def remember(self, key: tuple[str, str], decision: Decision) -> None:
        """Keep the decision here and, in the background, in Redis."""
        self.put(key, decision, share=True)

    def _share(self, key: tuple[str, str], decision: Decision) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        value = orjson.dumps([decision.role, decision.source, decision.confidence])
        task = loop.create_task(self._write(_redis_key(key), value))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, key: str, value: bytes) -> None:
        try:
            await self._redis().set(key, value, ex=max(int(self._ttl), 1))
        except Exception:
            logger.warning("sharing a sticky role in Redis failed", exc_info=True)

    def _redis(self):
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            import redis.asyncio as redis_asyncio

            self._client = redis_asyncio.Redis.from_url(self._redis_url, socket_timeout=1, socket_connect_timeout=1)
            self._client_loop = loop
        return self._client

    def get(self, key: tuple[str, str]) -> Decision | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, decision = entry
        if expires < time.monotonic():
            del self._entries[key]
            return None
        return decision

    def put(self, key: tuple[str, str], decision: Decision, *, share: bool = False) -> None:
        """Single-threaded (the event loop): no lock needed. `share`: also write it to Redis, if configured
        and the decision is new (an unchanged decision is not written again, only its local TTL renewed)."""
        previous = self._entries.get(key)
        if share and self._redis_url and (previous is None or previous[1] != decision):
            self._share(key, decision)
        self._entries[key] = (time.monotonic() + self._ttl, decision)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()


def _redis_key(key: tuple[str, str]) -> str:
    return REDIS_PREFIX + orjson.dumps(list(key)).decode()
