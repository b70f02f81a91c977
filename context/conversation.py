"""How a request's messages relate to the stored conversation. Pure: digests in, a plan out.

Clients come in two kinds. Coding agents send the whole conversation every time: the gateway only stores
what is new. Chat-style clients (the seed's usage) send a `conversation_id` and only their latest turn(s):
the gateway prepends what it stored. Which kind a request is comes from comparing message digests
(`context.text.message_digest`) with what is known of the stored conversation — its length, the digest
of its first message and those of its last few (`Stored`) — without reading its messages:

- nothing stored yet: `NEW`, every turn is new;
- the request opens with the stored first message and is at least as long, with the stored last message
  in its place: `FULL`, the turns after the stored ones are new;
- it opens with the stored first message but differs later (an edited or rewound conversation, a
  regenerated answer): `DIVERGED`, the stored tail from the first difference on is replaced (the writer,
  which can read the stored digests, finds where);
- anything else: `HISTORY`, the request carries only the latest turn(s). Turns it repeats from the end of
  the stored conversation (a client that resends the last answer) are recognised, not stored twice.

A single message equal to the stored first one is read as a new latest turn (`HISTORY`), never as a
rewind: a heuristic must not delete a conversation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

TAIL = 8  # digests of the last messages kept on the conversation row


class Mode(StrEnum):
    NEW = "new"
    FULL = "full"
    DIVERGED = "diverged"
    HISTORY = "history"


@dataclass(frozen=True, slots=True)
class Stored:
    """What the conversation row says about its messages."""

    count: int = 0
    first: str = ""
    tail: tuple[tuple[str, str], ...] = ()  # (digest, request id) of the last messages, oldest first

    @property
    def tail_digests(self) -> tuple[str, ...]:
        return tuple(digest for digest, _ in self.tail)

    @property
    def request_ids(self) -> frozenset[str]:
        return frozenset(request_id for _, request_id in self.tail if request_id)


@dataclass(frozen=True, slots=True)
class Plan:
    mode: Mode
    new_from: int  # index of the first request turn that is not stored yet (DIVERGED: the writer decides)
    overlap: int = 0  # HISTORY: how many of the request's first turns repeat the stored tail


def plan(stored: Stored, digest_at: Callable[[int], str], turns: int) -> Plan:
    """Relate a request of `turns` non-system messages (digest of the i-th: `digest_at(i)`) to `stored`."""
    if stored.count == 0:
        return Plan(Mode.NEW, 0)
    if turns == 0:
        return Plan(Mode.HISTORY, 0)
    n = stored.count
    if turns >= 2 and digest_at(0) == stored.first:
        if turns >= n and stored.tail and digest_at(n - 1) == stored.tail[-1][0]:
            return Plan(Mode.FULL, n)
        return Plan(Mode.DIVERGED, 0)
    overlap = repeated_tail(stored.tail_digests, digest_at, turns)
    return Plan(Mode.HISTORY, overlap, overlap)


def repeated_tail(tail: Sequence[str], digest_at: Callable[[int], str], turns: int) -> int:
    """The largest j such that the request's first j turns are the stored conversation's last j messages."""
    for j in range(min(len(tail), turns), 0, -1):
        if all(digest_at(i) == tail[len(tail) - j + i] for i in range(j)):
            return j
    return 0


def first_difference(stored: Sequence[str], request: Sequence[str]) -> int:
    """Where two digest sequences first differ (the shorter one's length when one is a prefix)."""
    for index, (a, b) in enumerate(zip(stored, request, strict=False)):
        if a != b:
            return index
    return min(len(stored), len(request))


def appended(stored: Stored, messages: Sequence[tuple[str, str]], *, keep: int) -> Stored:
    """The state after keeping the first `keep` stored messages and appending (digest, request id) pairs."""
    return _extended(stored, keep, len(messages), messages.__getitem__)


def _extended(stored: Stored, keep: int, count: int, pair_at: Callable[[int], tuple[str, str]]) -> Stored:
    """`appended` of the `count` pairs `pair_at(0)` ... `pair_at(count - 1)`, asking only for those the state
    names: the first (when nothing is kept) and the last TAIL. An agent's later turns each resend the whole
    conversation: digesting all of it for every pending exchange, on every read, cost O(conversation)."""
    appended_tail = tuple(pair_at(i) for i in range(max(count - TAIL, 0), count))
    if keep == 0:
        return Stored(count, pair_at(0)[0] if count else "", appended_tail)
    # The tail beyond what was kept is unknown here only when keep < count - TAIL; callers that
    # truncate that deep (the writer) rebuild the tail from the rows themselves.
    drop = stored.count - keep
    kept = stored.tail[: len(stored.tail) - drop] if drop else stored.tail
    return Stored(keep + count, stored.first, (kept + appended_tail)[-TAIL:])


@dataclass(slots=True)
class Virtual:
    """The stored conversation as this process knows it: the rows, then exchanges not written yet.

    Messages [0, from_rows) are rows of the database; `extra` (dicts) follow them.
    """

    stored: Stored
    from_rows: int
    extra: list[dict]

    @classmethod
    def of(cls, stored: Stored) -> Virtual:
        return cls(stored, stored.count, [])


def with_pending(virtual: Virtual, turns: Sequence[dict], answer: dict, request_id: str,
                 digest_at: Callable[[int], str], digest: Callable[[dict], str]) -> Virtual:
    """`virtual` after one more exchange, as the writer will store it. `digest_at(i)`: the digest of `turns[i]`
    (an exchange caches them: the same pending exchange is applied again by each read until it is written)."""
    step = plan(virtual.stored, digest_at, len(turns))
    answer_digest = digest(answer)
    start = step.new_from if step.mode is Mode.HISTORY else 0

    def pair_at(index: int) -> tuple[str, str]:  # of [*turns[start:], answer]
        index += start
        return (digest_at(index) if index < len(turns) else answer_digest), request_id

    count = len(turns) - start + 1
    if step.mode is Mode.HISTORY:
        stored = _extended(virtual.stored, virtual.stored.count, count, pair_at)
        return Virtual(stored, virtual.from_rows, [*virtual.extra, *turns[start:], answer])
    # NEW, FULL, DIVERGED: the conversation is now exactly what this exchange sent, and its answer.
    return Virtual(_extended(Stored(), 0, count, pair_at), 0, [*turns, answer])
