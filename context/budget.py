"""Fitting stored history and the similar-interactions block into one candidate's context window. Pure.

The budget for a candidate is its window, minus the output the request asks for (`max_tokens`, else a
default), minus the request itself, minus a safety margin for tokenizers that are not o200k's. History is
cut at turn boundaries (a turn starts at a user message, so a tool call never loses its result), oldest
turns first; the system prompt and the request's own turns are never cut. A candidate that cannot hold the
request even without history is passed over (`CandidateSkipped`, reason `context_window_exceeded`).

Token figures are upper bounds until counted: a message's stored byte size (a token is at least one byte)
plus its framing. The request path counts exactly (o200k, `core.tokens`) only when an upper bound does not
fit, so most requests never load the tokenizer.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from core.errors import CandidateSkipped
from core.tokens import IMAGE_TOKENS, MEDIA_TOKENS, REPLY_PRIMING, TOKENS_PER_MESSAGE

CONTEXT_WINDOW_EXCEEDED = "context_window_exceeded"  # the attempt log's reason
CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"  # the client's error code (OpenAI's), when no candidate fits


@dataclass(slots=True)
class HistoryMessage:
    """One stored message offered as history: from the database (`payload`) or not yet written (`message`)."""

    role: str
    size: int  # bytes of its JSON
    tokens: int | None = None  # exact o200k count with framing, once known
    payload: str | None = None
    message: dict | None = None
    message_id: int | None = None  # its row, when it has one

    @property
    def upper(self) -> int:
        return self.tokens if self.tokens is not None else self.size + TOKENS_PER_MESSAGE

    def as_dict(self) -> dict:
        if self.message is None:
            self.message = orjson.loads(self.payload or "{}")
        return self.message


@dataclass(slots=True)
class History:
    """History offered to every candidate, oldest first, starting at a user turn."""

    messages: list[HistoryMessage] = field(default_factory=list)
    required_last_turn: bool = False  # the request opens with a tool result: the turn holding its call must stay
    _starts: list[int] = field(default_factory=list)
    _suffix: list[int] = field(default_factory=list)  # tokens from each turn start to the end
    _descending: list[int] = field(default_factory=list)  # -_suffix, ascending, for bisect

    def __post_init__(self) -> None:
        self.trim_to_turn()

    def trim_to_turn(self) -> None:
        """Drop leading messages that are not a user turn (a tool result without its call, after a cut)."""
        first = next((i for i, m in enumerate(self.messages) if m.role == "user"), len(self.messages))
        if first:
            del self.messages[:first]
        self.refresh()

    def refresh(self) -> None:
        """Recompute the turn sums (after exact counts replaced upper bounds): one pass, newest first."""
        starts: list[int] = []
        suffix: list[int] = []
        total = 0
        messages = self.messages
        for index in range(len(messages) - 1, -1, -1):
            message = messages[index]
            total += message.tokens if message.tokens is not None else message.size + TOKENS_PER_MESSAGE
            if message.role == "user":
                starts.append(index)
                suffix.append(total)
        starts.reverse()
        suffix.reverse()
        self._starts = starts
        self._suffix = suffix
        self._descending = [-value for value in suffix]

    @property
    def upper(self) -> int:
        return self._suffix[0] if self._suffix else 0

    @property
    def last_turn_start(self) -> int:
        return self._starts[-1] if self._starts else len(self.messages)

    def required_tokens(self) -> int:
        """Tokens of what must be sent even with no room: the last turn, when the request needs it."""
        return self._suffix[-1] if self.required_last_turn and self._suffix else 0

    def start_for(self, room: int) -> int:
        """The oldest turn start whose turns up to the end fit in `room` tokens (len(messages) if none)."""
        # _suffix decreases along the turn starts: find the first one that is <= room.
        k = bisect.bisect_left(self._descending, -room)
        return self._starts[k] if k < len(self._starts) else len(self.messages)


@dataclass(slots=True)
class Budget:
    """The numbers of one request that do not depend on the candidate."""

    output_tokens: int  # what the request asks for, else the default
    margin: float  # share of a window left free for tokenizer differences
    unknown_window: int  # the window assumed for fitting history when a model's is unknown


def request_upper_tokens(raw_size: int, body: dict, needs_vision: bool) -> int:
    """An upper bound of the request's input tokens from its size in bytes: a token is at least one byte,
    framing included, except for images and files, which count by flat allowances."""
    return raw_size + REPLY_PRIMING + (_media_allowance(body.get("messages")) if needs_vision else 0)


def _media_allowance(messages: Any) -> int:
    total = 0
    for message in messages if isinstance(messages, list) else ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            for part in content:
                kind = part.get("type") if isinstance(part, dict) else None
                if kind in ("image_url", "input_image", "image"):
                    total += IMAGE_TOKENS
                elif kind in ("file", "input_file", "input_audio", "document"):
                    total += MEDIA_TOKENS
    return total


def added_messages(body: dict, client_body: dict) -> list:
    """Messages of `body` that are not the client's own objects (added or replaced by earlier transforms)."""
    messages = body.get("messages")
    client = client_body.get("messages")
    if messages is client or not isinstance(messages, list):
        return []
    client_ids = {id(message) for message in client} if isinstance(client, list) else set()
    return [message for message in messages if id(message) not in client_ids]


def added_upper_tokens(body: dict, client_body: dict) -> int:
    """An upper bound of what earlier transforms added to the client's body (removals are not subtracted)."""
    added = added_messages(body, client_body)
    extra = len(orjson.dumps(added)) + TOKENS_PER_MESSAGE * len(added) if added else 0
    tools = body.get("tools")
    if tools is not client_body.get("tools") and tools:
        extra += len(orjson.dumps(tools))
    return extra


def room_for_context(window: int, budget: Budget, request_tokens: int) -> int:
    """Tokens left for history and retrieved context in a window of `window` tokens."""
    return window - budget.output_tokens - request_tokens - math.ceil(window * budget.margin)


def skip_reason(model: str, window: int, needed: int, output: int) -> CandidateSkipped:
    return CandidateSkipped(
        f"Model '{model}' has a context window of {window} tokens; this request needs about {needed} "
        f"({needed - output} in, {output} out).",
        reason=CONTEXT_WINDOW_EXCEEDED, code=CONTEXT_LENGTH_EXCEEDED,
    )


def assemble(
    body: dict, *, block: dict | None, history: Sequence[HistoryMessage], system_count: int
) -> dict:
    """The body with the context block after the system prompt, then the history, then the request's turns."""
    messages = body["messages"]
    merged = list(messages[:system_count])
    if block is not None:
        merged.append(block)
    merged.extend(message.as_dict() for message in history)
    merged.extend(messages[system_count:])
    return {**body, "messages": merged}
