"""An Anthropic Messages answer, translated into OpenAI's `chat.completion`. Pure: no I/O.

Text blocks are joined; `tool_use` blocks become `tool_calls` (arguments = compact JSON of the
input); `thinking` and other block types are skipped. The tool that carries a `json_schema` answer
(see translate_request) becomes the message content instead, with finish reason `stop`.
"""

from __future__ import annotations

from typing import Any

import orjson

from providers.anthropic.errors import MalformedResponse
from providers.base import Usage

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: Any, json_tool: str | None = None) -> str:
    reason = FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"
    return "stop" if json_tool and reason == "tool_calls" else reason


def _count(usage: dict, name: str) -> int:
    value = usage.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def openai_usage(usage: Any) -> dict[str, Any]:
    """Anthropic counts cache reads and writes apart from `input_tokens`; OpenAI's prompt includes them."""
    usage = usage if isinstance(usage, dict) else {}
    cached = _count(usage, "cache_read_input_tokens")
    prompt = _count(usage, "input_tokens") + cached + _count(usage, "cache_creation_input_tokens")
    completion = _count(usage, "output_tokens")
    result: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                              "total_tokens": prompt + completion}
    if "cache_read_input_tokens" in usage:
        result["prompt_tokens_details"] = {"cached_tokens": cached}
    written = _count(usage, "cache_creation_input_tokens")
    if written:  # as LiteLLM reports it: cache writes cost more than input
        result["cache_creation_input_tokens"] = written
    return result


def usage_counts(usage: Any) -> Usage:
    """Anthropic's usage as the gateway's Usage: the prompt includes cache reads and writes, each also
    counted apart so that cost can price them as Anthropic does."""
    usage = usage if isinstance(usage, dict) else {}
    read, written = _count(usage, "cache_read_input_tokens"), _count(usage, "cache_creation_input_tokens")
    prompt = _count(usage, "input_tokens") + read + written
    completion = _count(usage, "output_tokens")
    return Usage(prompt, completion, prompt + completion, cached_tokens=read, cache_creation_tokens=written)


def arguments_json(value: Any) -> str:
    return orjson.dumps(value if value is not None else {}).decode()


def to_openai_completion(message: Any, *, created: int, json_tool: str | None = None) -> dict[str, Any]:
    """Raises MalformedResponse when `message` is not a Messages answer."""
    if not isinstance(message, dict) or message.get("type") != "message" or not isinstance(
        message.get("content"), list
    ):
        raise MalformedResponse("returned something that is not a Messages answer")
    texts: list[str] = []
    tool_calls: list[dict] = []
    for block in message["content"]:
        if not isinstance(block, dict):
            raise MalformedResponse("returned a content block that is not an object")
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use" and json_tool and block.get("name") == json_tool:
            texts.append(arguments_json(block.get("input")))
        elif kind == "tool_use":
            tool_calls.append({
                "id": str(block.get("id") or ""),
                "type": "function",
                "function": {"name": str(block.get("name") or ""), "arguments": arguments_json(block.get("input"))},
            })
    reply: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not tool_calls else None,
        "refusal": None,
    }
    if tool_calls:
        reply["tool_calls"] = tool_calls
    return {
        "id": str(message.get("id") or ""),
        "object": "chat.completion",
        "created": created,
        "model": str(message.get("model") or ""),
        "choices": [{
            "index": 0,
            "message": reply,
            "logprobs": None,
            "finish_reason": finish_reason(message.get("stop_reason"), json_tool),
        }],
        "usage": openai_usage(message.get("usage")),
    }
