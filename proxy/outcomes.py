"""After a response: one outcome event, published to every registered subscriber, each in isolation.

Built in: the usage row (first) and the limiter's settlement. Later features subscribe here too
(saving the exchange, the live feed, metrics, quota settlement). A subscriber runs on the event loop and
must be quick: anything slow it hands to its own background task. One that raises is logged and counted,
and never keeps the others, the usage row included, from running.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from proxy.context import Outcome

logger = logging.getLogger(__name__)

Subscriber = Callable[[Outcome], None]


@dataclass(slots=True)
class _Entry:
    name: str
    callback: Subscriber
    wants_answer: bool


class Subscribers:
    def __init__(self) -> None:
        self._entries: list[_Entry] = []
        self.failures: dict[str, int] = {}
        self.wants_answers = False  # whether any subscriber needs the assembled answer (else it is not built)

    def subscribe(
        self, callback: Subscriber, *, name: str | None = None, wants_answer: bool = False, before: str | None = None
    ) -> None:
        """Add a subscriber (once per name), last or `before` the named one; `wants_answer`: it reads
        `outcome.answer`, which is then assembled for every request."""
        name = name or f"{callback.__module__}.{getattr(callback, '__qualname__', repr(callback))}"
        entries = [entry for entry in self._entries if entry.name != name]
        position = next((i for i, entry in enumerate(entries) if entry.name == before), len(entries))
        entries.insert(position, _Entry(name, callback, wants_answer))
        self._entries = entries
        self._refresh()

    def unsubscribe(self, name_or_callback: str | Subscriber) -> None:
        self._entries = [entry for entry in self._entries
                         if entry.name != name_or_callback and entry.callback is not name_or_callback]
        self._refresh()

    def publish(self, outcome: Outcome) -> None:
        for entry in self._entries:
            try:
                entry.callback(outcome)
            except Exception:
                self.failures[entry.name] = self.failures.get(entry.name, 0) + 1
                logger.exception("outcome subscriber %s failed for %s", entry.name, outcome.ctx.request_id)

    def names(self) -> list[str]:
        return [entry.name for entry in self._entries]

    def _refresh(self) -> None:
        self.wants_answers = any(entry.wants_answer for entry in self._entries)
