"""Exchanges (and token counts) waiting to be written, and the in-process view of them the request path reads.

An exchange is saved off the response path, in batches (context.state). A client that sends its next turn
before the batch is written still gets the turn before it as history (and an agent's tool result still
finds the call it answers) from the same process: the request path reads what is pending here on top of
what is stored. Each exchange gets a sequence number; the writer advances `committed` after each commit,
so a reader can tell what its database read already included.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from context.text import message_digest


class ConversationKey(NamedTuple):
    api_key_prefix: str
    profile: str
    conversation_id: str


@dataclass(slots=True)
class Exchange:
    """One request's turns (all it sent, system prompt excepted) and the answer, to reconcile with what is stored."""

    key: ConversationKey
    request_id: str
    created_at: datetime
    turns: list[dict]
    answer: dict
    similar_ids: tuple[int, ...] | None = None  # to pin on the conversation, when it has none yet
    seq: int = 0
    replayed: bool = False  # read back from a dead process's journal: it may be stored already
    line: bytes | None = None  # its journal line, kept so the writer process gets it without a second encoding
    _digests: dict[int, str] = field(default_factory=dict)

    @property
    def messages(self) -> list[dict]:
        return [*self.turns, self.answer]

    def digest_at(self, index: int) -> str:
        digest = self._digests.get(index)
        if digest is None:
            digest = self._digests[index] = message_digest(self.turns[index])
        return digest


@dataclass(slots=True)
class TokenCounts:
    """Exact counts of stored messages, measured by the request path, to keep for the next requests."""

    counts: list[tuple[int, int]]  # (message id, tokens)


class Pending:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[ConversationKey, list[Exchange]] = {}
        self._seq = itertools.count(1)
        self.committed = 0  # every exchange with seq <= this is in the database

    def add(self, exchange: Exchange) -> None:
        with self._lock:
            exchange.seq = next(self._seq)
            self._by_key.setdefault(exchange.key, []).append(exchange)

    def of(self, key: ConversationKey) -> list[Exchange]:
        with self._lock:
            return list(self._by_key.get(key, ()))

    def done(self, exchanges: list) -> None:
        """After a batch was committed (or given up): forget it, and move the committed mark past it."""
        with self._lock:
            for exchange in exchanges:
                if not isinstance(exchange, Exchange):
                    continue
                waiting = self._by_key.get(exchange.key)
                if waiting is not None:
                    waiting[:] = [item for item in waiting if item is not exchange]
                    if not waiting:
                        del self._by_key[exchange.key]
                self.committed = max(self.committed, exchange.seq)

    def __len__(self) -> int:
        with self._lock:
            return sum(len(items) for items in self._by_key.values())
