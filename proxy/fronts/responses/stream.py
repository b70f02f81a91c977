"""The gateway's OpenAI chunk stream, re-told as the Responses API's typed event stream, chunk by chunk.

`ResponseStreamBuilder` is the pure part: chat chunks in, SSE events out, each with its
`sequence_number`: `response.created`, `response.in_progress`, then per output item
`response.output_item.added`, for reasoning text (`reasoning_content` / `reasoning` deltas) a `reasoning`
item with `response.reasoning_summary_part.added` / `response.reasoning_summary_text.delta` / `.done` /
`response.reasoning_summary_part.done`, for text `response.content_part.added` / `response.output_text.delta` /
`.done` / `response.content_part.done`, for function calls `response.function_call_arguments.delta` /
`.done` (custom tools: `response.custom_tool_call_input.delta` / `.done`), `response.output_item.done`,
and last `response.completed` (or `response.incomplete`) with the usage. A failure after the first
event ends the stream with `response.failed`: never a cut stream that looks complete.
`responses_events` drives it from the relay's bytes without buffering.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import orjson

from proxy.fronts.relayed import INCOMPLETE, relayed_chunks
from proxy.fronts.responses.translate_response import (
    INCOMPLETE_REASONS,
    ResponseEnvelope,
    call_item,
    custom_input,
    message_item,
    new_id,
    output_text_part,
    reasoning_item,
    reasoning_text,
    response_usage,
    summary_part,
)

UNTRANSLATABLE = "The upstream sent an event the gateway could not translate."

logger = logging.getLogger(__name__)


def sse_event(data: dict[str, Any]) -> bytes:
    return b"event: " + data["type"].encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


@dataclass(slots=True)
class _Call:
    output_index: int
    item_id: str
    call_id: str
    name: str
    custom: bool
    arguments: list[str] = field(default_factory=list)


class ResponseStreamBuilder:
    def __init__(self, envelope: ResponseEnvelope) -> None:
        self.envelope = envelope
        self.output: list[dict[str, Any] | None] = []  # finished items by output index (None while open)
        self._sequence = 0
        self._started = False
        self._text_index: int | None = None
        self._text_id = ""
        self._text: list[str] = []
        self._calls: dict[int, _Call] = {}  # chat tool_call index → the item
        self._reasoning_index: int | None = None
        self._reasoning_id = ""
        self._reasoning: list[str] = []
        self._usage: Any = None
        self._finish_reason: Any = None
        self._model = ""

    def start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        snapshot = self.envelope.response(status="in_progress")
        return [self._event("response.created", response=snapshot),
                self._event("response.in_progress", response=snapshot)]

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        events = self.start()
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        if isinstance(chunk.get("model"), str) and chunk["model"]:
            self._model = chunk["model"]
        choices = chunk.get("choices")
        choice = next((c for c in choices if isinstance(c, dict) and c.get("index", 0) == 0), None) if isinstance(
            choices, list) else None
        if choice is None:
            return events
        delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
        reasoning = reasoning_text(delta)
        if reasoning:
            events += self._reasoning_delta(reasoning)
        for text in (delta.get("content"), delta.get("refusal")):  # a refusal is told as the answer's text
            if isinstance(text, str) and text:
                events += self._text_delta(text)
        calls = delta.get("tool_calls")
        for position, call in enumerate(calls if isinstance(calls, list) else ()):
            if isinstance(call, dict):
                events += self._call_delta(call, position)
        if choice.get("finish_reason"):
            self._finish_reason = choice["finish_reason"]
        return events

    def done(self) -> tuple[list[bytes], dict[str, Any]]:
        """After `[DONE]`: close the open items; the final event and the finished response object.
        The final event is built last (`completed_event`), so the caller can store the response first."""
        events = self.start() + self._close_reasoning() + self._close_text()
        for call in sorted(self._calls.values(), key=lambda c: c.output_index):
            events += self._close_call(call)
        reason = INCOMPLETE_REASONS.get(self._finish_reason) if isinstance(self._finish_reason, str) else None
        response = self.envelope.response(
            status="incomplete" if reason else "completed", output=[item for item in self.output if item],
            model=self._model, usage=response_usage(self._usage), incomplete_reason=reason)
        return events, response

    def completed_event(self, response: dict[str, Any]) -> bytes:
        kind = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
        return self._event(kind, response=response)

    def failed(self, error: Any) -> list[bytes]:
        error = error if isinstance(error, dict) else {}
        detail = {"code": str(error.get("code") or error.get("type") or "server_error"),
                  "message": str(error.get("message") or "The upstream failed mid-stream.")}
        response = self.envelope.response(status="failed", output=[item for item in self.output if item],
                                          model=self._model, usage=response_usage(self._usage), error=detail)
        return self.start() + [self._event("response.failed", response=response)]

    def _event(self, kind: str, **fields: Any) -> bytes:
        event = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return sse_event(event)

    def _new_index(self) -> int:
        self.output.append(None)
        return len(self.output) - 1

    def _reasoning_delta(self, text: str) -> list[bytes]:
        events: list[bytes] = []
        if self._reasoning_index is None:
            events += self._close_text()
            self._reasoning_index, self._reasoning_id, self._reasoning = self._new_index(), new_id("rs"), []
            item = {"id": self._reasoning_id, "type": "reasoning", "summary": []}
            events.append(self._event("response.output_item.added", output_index=self._reasoning_index, item=item))
            events.append(self._event("response.reasoning_summary_part.added", item_id=self._reasoning_id,
                                      output_index=self._reasoning_index, summary_index=0, part=summary_part("")))
        self._reasoning.append(text)
        events.append(self._event("response.reasoning_summary_text.delta", item_id=self._reasoning_id,
                                  output_index=self._reasoning_index, summary_index=0, delta=text))
        return events

    def _close_reasoning(self) -> list[bytes]:
        if self._reasoning_index is None:
            return []
        index, item_id, text = self._reasoning_index, self._reasoning_id, "".join(self._reasoning)
        self._reasoning_index = None
        item = reasoning_item(text, item_id=item_id)
        self.output[index] = item
        return [
            self._event("response.reasoning_summary_text.done", item_id=item_id, output_index=index,
                        summary_index=0, text=text),
            self._event("response.reasoning_summary_part.done", item_id=item_id, output_index=index,
                        summary_index=0, part=summary_part(text)),
            self._event("response.output_item.done", output_index=index, item=item),
        ]

    def _text_delta(self, text: str) -> list[bytes]:
        events: list[bytes] = self._close_reasoning()
        if self._text_index is None:
            self._text_index, self._text_id, self._text = self._new_index(), new_id("msg"), []
            item = {**message_item("", item_id=self._text_id, status="in_progress"), "content": []}
            events.append(self._event("response.output_item.added", output_index=self._text_index, item=item))
            events.append(self._event("response.content_part.added", item_id=self._text_id,
                                      output_index=self._text_index, content_index=0, part=output_text_part("")))
        self._text.append(text)
        events.append(self._event("response.output_text.delta", item_id=self._text_id, output_index=self._text_index,
                                  content_index=0, delta=text, logprobs=[]))
        return events

    def _close_text(self) -> list[bytes]:
        if self._text_index is None:
            return []
        index, item_id, text = self._text_index, self._text_id, "".join(self._text)
        self._text_index = None
        item = message_item(text, item_id=item_id)
        self.output[index] = item
        return [
            self._event("response.output_text.done", item_id=item_id, output_index=index, content_index=0,
                        text=text, logprobs=[]),
            self._event("response.content_part.done", item_id=item_id, output_index=index, content_index=0,
                        part=output_text_part(text)),
            self._event("response.output_item.done", output_index=index, item=item),
        ]

    def _call_delta(self, delta: dict[str, Any], position: int) -> list[bytes]:
        chat_index = delta.get("index") if isinstance(delta.get("index"), int) else position
        function = delta.get("function") if isinstance(delta.get("function"), dict) else {}
        events: list[bytes] = []
        call = self._calls.get(chat_index)
        if call is None:
            events += self._close_reasoning() + self._close_text()  # what came before a call is finished
            name = str(function.get("name") or "")
            custom = name in self.envelope.custom_tools
            call = _Call(self._new_index(), new_id("ctc" if custom else "fc"),
                         str(delta.get("id") or new_id("call")), name, custom)
            self._calls[chat_index] = call
            item = call_item(call.call_id, name, "", self.envelope.custom_tools, item_id=call.item_id,
                             status="in_progress")
            events.append(self._event("response.output_item.added", output_index=call.output_index, item=item))
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            call.arguments.append(arguments)
            if not call.custom:  # a custom tool's input is the decoded argument: sent whole at the end
                events.append(self._event("response.function_call_arguments.delta", item_id=call.item_id,
                                          output_index=call.output_index, delta=arguments))
        return events

    def _close_call(self, call: _Call) -> list[bytes]:
        arguments = "".join(call.arguments)
        item = call_item(call.call_id, call.name, arguments, self.envelope.custom_tools, item_id=call.item_id)
        self.output[call.output_index] = item
        if call.custom:
            text = custom_input(arguments)
            events = [self._event("response.custom_tool_call_input.delta", item_id=call.item_id,
                                  output_index=call.output_index, delta=text),
                      self._event("response.custom_tool_call_input.done", item_id=call.item_id,
                                  output_index=call.output_index, input=text)]
        else:
            events = [self._event("response.function_call_arguments.done", item_id=call.item_id,
                                  output_index=call.output_index, name=call.name, arguments=arguments)]
        events.append(self._event("response.output_item.done", output_index=call.output_index, item=item))
        return events


async def responses_events(
    openai_sse: AsyncIterator[bytes], builder: ResponseStreamBuilder,
    before_completed: Callable[[dict[str, Any]], Awaitable[None]],
) -> AsyncIterator[bytes]:
    """Re-tell the relay's stream (`data: <chunk>` ... `data: [DONE]`, or a final `data: {"error"}`).

    `before_completed(response)` runs before `response.completed` goes out (the store, so that a
    follow-up naming this response finds it). The relay is always read to its end, so it records the
    request's outcome itself; it is closed early only when our own client goes away.
    """
    ended = False
    async with aclosing(openai_sse), aclosing(relayed_chunks(openai_sse)) as chunks:  # type: ignore[type-var]
        for event in builder.start():
            yield event
        async for chunk in chunks:
            if ended:
                continue  # after a chunk no translation foresaw: the relay is still read to its end
            if chunk is None:
                ended = True
                events, response = builder.done()
                for event in events:
                    yield event
                await before_completed(response)
                yield builder.completed_event(response)
            elif "error" in chunk:
                ended = True
                yield b"".join(builder.failed(chunk["error"]))
            else:
                try:
                    events = builder.feed(chunk)
                except Exception:  # a chunk no translation foresaw: fail the response, never cut it silently
                    logger.exception("could not translate a chunk into Responses events")
                    ended = True
                    yield b"".join(builder.failed({"message": UNTRANSLATABLE, "code": "upstream_bad_stream"}))
                    continue
                for event in events:
                    yield event
    if not ended:
        yield b"".join(builder.failed({"message": INCOMPLETE, "code": "upstream_incomplete"}))
