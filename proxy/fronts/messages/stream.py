"""The gateway's OpenAI chunk stream, re-told as Anthropic's Messages event stream, chunk by chunk.

`MessageStreamBuilder` is the pure part: OpenAI chunks in, Anthropic SSE events out
(`message_start`, `content_block_start`, `ping`, `content_block_delta` with `text_delta` or
`input_json_delta`, `content_block_stop`, `message_delta` with stop reason and usage,
`message_stop`). `anthropic_events` drives it from the relay's bytes without buffering: each event
goes out as soon as the chunk that causes it arrives.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import orjson

from proxy.fronts.messages.translate_response import anthropic_usage, error_from_openai, message_id, stop_reason
from proxy.fronts.relayed import INCOMPLETE, relayed_chunks


def sse_event(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class MessageStreamBuilder:
    def __init__(self, model: str) -> None:
        self.model = model
        self.started = False
        self._next_index = 0
        self._open: int | None = None  # the content block being written
        self._open_kind = ""
        self._tool_blocks: dict[int, int] = {}  # OpenAI tool_call index → block index
        self._ping_sent = False
        self._stop_reason: str | None = None
        self._usage: Any = None

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        events = self._start(chunk)
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        choices = chunk.get("choices")
        choice = next((c for c in choices if isinstance(c, dict) and c.get("index", 0) == 0), None) if isinstance(
            choices, list) else None
        if choice is None:
            return events
        delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
        for text in (delta.get("content"), delta.get("refusal")):
            if isinstance(text, str) and text:
                events += self._text(text)
        for position, call in enumerate(delta.get("tool_calls") or ()):
            if isinstance(call, dict):
                events += self._tool_call(call, position)
        if choice.get("finish_reason"):
            self._stop_reason = stop_reason(choice["finish_reason"])
        return events

    def done(self) -> list[bytes]:
        """After `[DONE]`: close the last block, then `message_delta` and `message_stop`."""
        events = self._start({}) + self._close()
        usage = anthropic_usage(self._usage)
        events.append(sse_event("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": self._stop_reason or "end_turn", "stop_sequence": None},
            "usage": usage,
        }))
        events.append(sse_event("message_stop", {"type": "message_stop"}))
        return events

    def error(self, error: Any) -> list[bytes]:
        return self._start({}) + [sse_event("error", error_from_openai(error))]

    def _start(self, chunk: dict[str, Any]) -> list[bytes]:
        if self.started:
            return []
        self.started = True
        message = {
            "id": message_id(chunk.get("id") or uuid.uuid4().hex),
            "type": "message",
            "role": "assistant",
            "model": str(chunk.get("model") or self.model),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},  # known at the end: sent in message_delta
        }
        return [sse_event("message_start", {"type": "message_start", "message": message})]

    def _open_block(self, kind: str, block: dict[str, Any]) -> list[bytes]:
        events = self._close()
        self._open, self._open_kind = self._next_index, kind
        self._next_index += 1
        events.append(sse_event("content_block_start",
                                {"type": "content_block_start", "index": self._open, "content_block": block}))
        if not self._ping_sent:
            self._ping_sent = True
            events.append(sse_event("ping", {"type": "ping"}))
        return events

    def _close(self) -> list[bytes]:
        if self._open is None:
            return []
        index, self._open = self._open, None
        return [sse_event("content_block_stop", {"type": "content_block_stop", "index": index})]

    def _text(self, text: str) -> list[bytes]:
        events = [] if self._open_kind == "text" and self._open is not None else self._open_block(
            "text", {"type": "text", "text": ""})
        events.append(sse_event("content_block_delta", {
            "type": "content_block_delta", "index": self._open, "delta": {"type": "text_delta", "text": text},
        }))
        return events

    def _tool_call(self, call: dict[str, Any], position: int) -> list[bytes]:
        openai_index = call.get("index") if isinstance(call.get("index"), int) else position
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        events: list[bytes] = []
        if openai_index not in self._tool_blocks:
            events += self._open_block("tool", {
                "type": "tool_use", "id": str(call.get("id") or f"toolu_{uuid.uuid4().hex[:24]}"),
                "name": str(function.get("name") or ""), "input": {},
            })
            self._tool_blocks[openai_index] = self._open  # type: ignore[assignment]
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            events.append(sse_event("content_block_delta", {
                "type": "content_block_delta", "index": self._tool_blocks[openai_index],
                "delta": {"type": "input_json_delta", "partial_json": arguments},
            }))
        return events


async def anthropic_events(openai_sse: AsyncIterator[bytes], *, model: str) -> AsyncIterator[bytes]:
    """Re-tell the relay's stream (`data: <chunk>` ... `data: [DONE]`, or a final `data: {"error"}`).

    The relay is always read to its end, so it records the request's outcome itself; it is closed
    early only when our own client goes away.
    """
    builder = MessageStreamBuilder(model)
    ended = False
    async with aclosing(openai_sse), aclosing(relayed_chunks(openai_sse)) as chunks:  # type: ignore[type-var]
        async for chunk in chunks:
            if chunk is None:
                ended = True
                for event in builder.done():
                    yield event
            elif "error" in chunk:
                ended = True
                yield b"".join(builder.error(chunk["error"]))
            else:
                for event in builder.feed(chunk):
                    yield event
    if not ended:
        yield b"".join(builder.error({"message": INCOMPLETE}))


async def native_events(relay: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """An Anthropic backend's own event stream (the request went as it was): relayed unchanged. As above,
    the relay is read to its end, and closed early only when our own client goes away."""
    exhausted = False
    try:
        async for frame in relay:
            yield frame
        exhausted = True
    finally:
        if not exhausted:
            await relay.aclose()  # type: ignore[attr-defined]
