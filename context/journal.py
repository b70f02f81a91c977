"""Exchanges in the write-ahead journal (usage.journal), so a process killed before its batch is saved loses
no turn of history: one line per exchange, replayed by the next process that starts on the same database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from context.pending import ConversationKey, Exchange
from usage.journal import Codec

FIELDS = ("api_key_prefix", "profile", "conversation_id", "request_id", "created_at", "turns", "answer",
          "similar_ids")


def _values(item: object) -> list[Any] | None:
    if not isinstance(item, Exchange):
        return None  # token counts: recomputed by the next request that needs them
    key = item.key
    return [key.api_key_prefix, key.profile, key.conversation_id, item.request_id, item.created_at, item.turns,
            item.answer, item.similar_ids]


def _exchange(data: dict[str, Any]) -> Exchange:
    similar = data.get("similar_ids")
    return Exchange(
        ConversationKey(data["api_key_prefix"], data["profile"], data["conversation_id"]), data["request_id"],
        datetime.fromisoformat(data["created_at"]), list(data["turns"]), dict(data["answer"]),
        tuple(similar) if similar is not None else None, replayed=True,
    )


class ExchangeCodec(Codec):
    """Keeps each exchange's line on it: the writer process (context.writer_process) is sent the same bytes."""

    def encode(self, item: object) -> bytes | None:
        line = super().encode(item)
        if line is not None:
            item.line = line  # type: ignore[attr-defined] - only exchanges have a line
        return line


EXCHANGES = ExchangeCodec("context_journal", FIELDS, _values, _exchange)
