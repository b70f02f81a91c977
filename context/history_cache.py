"""Stored history kept in memory per conversation, so a long conversation is not read whole on every request.

A conversation's messages only grow, except when a client rewinds or edits it (the writer then replaces its
tail). An entry holds the rows of positions [0, count) as they were read; on the next request the conversation
row (read anyway) says how many messages there are now and gives the digests of the last few. When the cached
last message is still where it was, only the rows after it are read; otherwise the entry is dropped and the
history read again. Each process has its own cache, checked against the row every time, so several processes
(and edits in the admin) never serve a stale history.

Bounded by the bytes of the payloads it holds (least recently used conversations leave first). Thread-safe: the
reader pool's threads share it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from context.budget import HistoryMessage


@dataclass(slots=True)
class _Entry:
    messages: list[HistoryMessage]  # positions [0, len)
    digests: list[str]
    size: int


Fetch = Callable[[int, int], list[tuple[HistoryMessage, str]]]  # (from position, to position) -> rows, digests


class HistoryCache:
    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._size = 0
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def rows(self, conversation: int, count: int, tail: tuple[str, ...], fetch: Fetch) -> list[HistoryMessage]:
        """The conversation's stored messages [0, count): cached, topped up, or read (`fetch`) when stale.

        `tail`: digests of the last stored messages (oldest first), as the conversation row lists them.
        """
        with self._lock:
            entry = self._entries.get(conversation)
            if entry is not None:
                self._entries.move_to_end(conversation)
        cached = len(entry.messages) if entry is not None else 0
        if entry is not None and not self._still_valid(entry, count, tail):
            entry, cached = None, 0
        if entry is not None and cached == count:
            return entry.messages
        fresh = fetch(cached, count)
        messages = (entry.messages if entry else []) + [message for message, _ in fresh]
        digests = (entry.digests if entry else []) + [digest for _, digest in fresh]
        if len(messages) != count:  # rows changed under the read (a concurrent rewrite): serve it, keep nothing
            self.forget(conversation)
            return messages
        self._store(conversation, _Entry(messages, digests, sum(message.size for message in messages)))
        return messages

    @staticmethod
    def _still_valid(entry: _Entry, count: int, tail: tuple[str, ...]) -> bool:
        cached = len(entry.messages)
        if cached > count or not cached:
            return False
        back = count - cached  # how far from the end the cached last message should now be
        if back >= len(tail):
            return False  # beyond what the row can vouch for: read it all again
        return tail[len(tail) - 1 - back] == entry.digests[-1]

    def _store(self, conversation: int, entry: _Entry) -> None:
        with self._lock:
            previous = self._entries.pop(conversation, None)
            if previous is not None:
                self._size -= previous.size
            if entry.size > self._max:
                return
            self._entries[conversation] = entry
            self._size += entry.size
            while self._size > self._max and self._entries:
                _, dropped = self._entries.popitem(last=False)
                self._size -= dropped.size

    def forget(self, conversation: int) -> None:
        with self._lock:
            previous = self._entries.pop(conversation, None)
            if previous is not None:
                self._size -= previous.size

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._size = 0
