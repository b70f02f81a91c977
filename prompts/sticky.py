"""The role each conversation was last routed by, so an agent loop keeps its model between tool calls.

In memory, per process: a bounded map (least recently used entries go first) whose entries expire after a TTL.
With several gateway processes a conversation whose turns land on different processes is detected afresh on
each, which gives the same role whenever the client sends the whole conversation (every coding agent does);
only a client that sends just its latest tool result to another process loses the stickiness.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Decision:
    role: str
    source: str
    confidence: float


class StickyRoles:
    def __init__(self, max_entries: int, ttl_seconds: float) -> None:
        self._max = max_entries
        self._ttl = ttl_seconds
        self._entries: OrderedDict[tuple[str, str], tuple[float, Decision]] = OrderedDict()

    def get(self, key: tuple[str, str]) -> Decision | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, decision = entry
        if expires < time.monotonic():
            del self._entries[key]
            return None
        return decision

    def put(self, key: tuple[str, str], decision: Decision) -> None:
        """Single-threaded (the event loop): no lock needed."""
        self._entries[key] = (time.monotonic() + self._ttl, decision)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
