"""Anthropic's Messages event stream, translated event by event into OpenAI chunks. Pure: no I/O.

`StreamTranslator.feed(event)` takes one parsed event and returns the OpenAI
`chat.completion.chunk`s it produces, at once (nothing is held back beyond the role chunk):

- `message_start` gives the id, model and prompt usage; the first chunk (`delta.role`) goes out
  with the first content, so a stream that fails right after `message_start` can still fall back.
- `text_delta` → `delta.content`; a `tool_use` block → a tool call (`id`, `name`, `arguments: ""`)
  numbered in order of appearance, its `input_json_delta`s → argument deltas for that `index`;
  a tool whose input arrived whole in `content_block_start` (or as `{}`) gets it at block stop.
- `thinking` / `redacted_thinking` blocks, `signature_delta`, `citations_delta`, `ping` and event
  types Anthropic may add later are skipped.
- `message_delta` → the finish-reason chunk; `message_stop` → the usage chunk (`choices: []`),
  after which `finished` is True.
- `error` → AnthropicAPIError; an event out of order or misshapen → MalformedResponse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from providers.anthropic.errors import AnthropicAPIError, MalformedResponse, error_from_dict
from providers.anthropic.translate_response import arguments_json, finish_reason, openai_usage


@dataclass(slots=True)
class _Block:
    kind: str  # text | tool | json (the json_schema tool: streamed as content) | skip
    tool_index: int = -1
    start_input: Any = None
    streamed: bool = False  # some non-empty partial_json was sent


@dataclass(slots=True)
class StreamTranslator:
    created: int
    json_tool: str | None = None
    id: str = ""
    model: str = ""
    finished: bool = False
    started: bool = False
    _role_sent: bool = False
    _usage: dict[str, Any] = field(default_factory=dict)
    _blocks: dict[int, _Block] = field(default_factory=dict)
    _tool_count: int = 0
    _stop_reason: Any = None
    _finish_sent: bool = False

    @property
    def raw_usage(self) -> dict[str, Any]:
        """Anthropic's own usage counts so far (message_start's, updated by message_delta's)."""
        return self._usage

    def feed(self, event: Any) -> list[dict]:
        if not isinstance(event, dict):
            raise MalformedResponse("sent an event that is not a JSON object")
        kind = event.get("type")
        if kind == "error":
            raise error_from_dict(event) or AnthropicAPIError("api_error", "error event without details")
        if kind == "ping":
            return []
        if kind == "message_start":
            return self._message_start(event.get("message"))
        if not self.started:
            raise MalformedResponse(f"sent '{kind}' before 'message_start'")
        if self.finished:
            return []
        if kind == "content_block_start":
            return self._block_start(event)
        if kind == "content_block_delta":
            return self._block_delta(event)
        if kind == "content_block_stop":
            return self._block_stop(event)
        if kind == "message_delta":
            return self._message_delta(event)
        if kind == "message_stop":
            return self._message_stop()
        return []  # event types added after this was written

    def _message_start(self, message: Any) -> list[dict]:
        if not isinstance(message, dict) or self.started:
            raise MalformedResponse("sent a misshapen or repeated 'message_start'")
        self.started = True
        self.id = str(message.get("id") or "")
        self.model = str(message.get("model") or "")
        if isinstance(message.get("usage"), dict):
            self._usage.update(message["usage"])
        return []

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict:
        if not self._role_sent:
            self._role_sent = True
            delta = {"role": "assistant", **delta}
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    def _block(self, event: dict) -> _Block:
        index = event.get("index")
        block = self._blocks.get(index) if isinstance(index, int) else None
        if block is None:
            raise MalformedResponse(f"sent a delta for content block {event.get('index')!r} that never started")
        return block

    def _block_start(self, event: dict) -> list[dict]:
        index, content = event.get("index"), event.get("content_block")
        if not isinstance(index, int) or not isinstance(content, dict):
            raise MalformedResponse("sent a misshapen 'content_block_start'")
        kind = content.get("type")
        if kind == "text":
            self._blocks[index] = _Block("text")
            text = content.get("text") if isinstance(content.get("text"), str) else ""
            if text or not self._role_sent:
                return [self._chunk({"content": text})]
            return []
        if kind == "tool_use" and self.json_tool and content.get("name") == self.json_tool:
            self._blocks[index] = _Block("json", start_input=content.get("input"))
            return [] if self._role_sent else [self._chunk({"content": ""})]
        if kind == "tool_use":
            block = self._blocks[index] = _Block("tool", self._tool_count, content.get("input"))
            self._tool_count += 1
            call = {"index": block.tool_index, "id": str(content.get("id") or ""), "type": "function",
                    "function": {"name": str(content.get("name") or ""), "arguments": ""}}
            return [self._chunk({"content": None, "tool_calls": [call]} if not self._role_sent
                                else {"tool_calls": [call]})]
        self._blocks[index] = _Block("skip")  # thinking, redacted_thinking, server tools
        return []

    def _block_delta(self, event: dict) -> list[dict]:
        block = self._block(event)
        delta = event.get("delta")
        if not isinstance(delta, dict):
            raise MalformedResponse("sent a 'content_block_delta' without a delta")
        kind = delta.get("type")
        if kind == "text_delta" and block.kind == "text":
            text = delta.get("text")
            return [self._chunk({"content": text})] if isinstance(text, str) and text else []
        if kind == "input_json_delta" and block.kind in ("tool", "json"):
            partial = delta.get("partial_json")
            if not isinstance(partial, str) or not partial:
                return []
            block.streamed = True
            if block.kind == "json":
                return [self._chunk({"content": partial})]
            return [self._chunk({"tool_calls": [{"index": block.tool_index, "function": {"arguments": partial}}]})]
        return []

    def _block_stop(self, event: dict) -> list[dict]:
        block = self._block(event)
        if block.kind not in ("tool", "json") or block.streamed:
            return []
        block.streamed = True
        arguments = arguments_json(block.start_input)
        if block.kind == "json":
            return [self._chunk({"content": arguments})]
        return [self._chunk({"tool_calls": [{"index": block.tool_index, "function": {"arguments": arguments}}]})]

    def _message_delta(self, event: dict) -> list[dict]:
        delta = event.get("delta")
        if isinstance(delta, dict):
            self._stop_reason = delta.get("stop_reason")
        if isinstance(event.get("usage"), dict):
            # Counts on message_delta are cumulative: they replace message_start's, absent ones stay.
            self._usage.update({k: v for k, v in event["usage"].items() if v is not None})
        return self._finish()

    def _finish(self) -> list[dict]:
        if self._finish_sent:
            return []
        self._finish_sent = True
        chunks = [] if self._role_sent else [self._chunk({"content": ""})]
        chunks.append(self._chunk({}, finish_reason(self._stop_reason, self.json_tool)))
        return chunks

    def _message_stop(self) -> list[dict]:
        chunks = self._finish()
        self.finished = True
        chunks.append({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": openai_usage(self._usage),
        })
        return chunks
