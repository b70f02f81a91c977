"""Chat-completions answers, translated into Responses API objects. Pure: no I/O.

`ResponseEnvelope` holds what a `response` object echoes of its request (instructions, tools, tool
choice, text format, ...); `output_items` turns choice 0's message into output items (a `message`
with `output_text`, `function_call`s, `custom_tool_call`s); `response_usage` maps the usage
(cached and reasoning tokens included).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from proxy.fronts.responses.translate_request import CUSTOM_INPUT

INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


@dataclass(slots=True)
class ResponseEnvelope:
    """The request's fields a `response` object repeats, fixed before the answer is known."""

    model: str
    id: str = field(default_factory=lambda: new_id("resp"))
    created_at: int = field(default_factory=lambda: int(time.time()))
    request: dict[str, Any] = field(default_factory=dict)
    custom_tools: frozenset[str] = frozenset()

    @classmethod
    def for_request(cls, body: dict[str, Any], custom_tools: frozenset[str] = frozenset()) -> ResponseEnvelope:
        return cls(model=str(body.get("model") or ""), request=body, custom_tools=custom_tools)

    def response(self, *, status: str, output: list[dict[str, Any]] | None = None, model: str = "",
                 usage: dict[str, Any] | None = None, error: dict[str, Any] | None = None,
                 incomplete_reason: str | None = None) -> dict[str, Any]:
        body = self.request
        text = body.get("text") if isinstance(body.get("text"), dict) else {}
        reasoning = body.get("reasoning") if isinstance(body.get("reasoning"), dict) else {}
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": False,
            "error": error,
            "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "metadata": body.get("metadata") if isinstance(body.get("metadata"), dict) else {},
            "model": model or self.model,
            "output": output or [],
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "prompt_cache_key": body.get("prompt_cache_key"),
            "reasoning": {"effort": reasoning.get("effort"), "summary": None},
            "store": body.get("store", True) is not False,
            "temperature": body.get("temperature"),
            "text": {"format": text.get("format") or {"type": "text"}, "verbosity": text.get("verbosity", "medium")},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "top_p": body.get("top_p"),
            "truncation": body.get("truncation", "disabled"),
            "usage": usage,
            "user": body.get("user"),
        }


def message_item(text: str, *, item_id: str | None = None, status: str = "completed") -> dict[str, Any]:
    return {"id": item_id or new_id("msg"), "type": "message", "status": status, "role": "assistant",
            "content": [output_text_part(text)]}


def output_text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def call_item(call_id: str, name: str, arguments: str, custom_tools: frozenset[str], *, item_id: str | None = None,
              status: str = "completed") -> dict[str, Any]:
    """A `function_call`, or a `custom_tool_call` when `name` is a custom tool (its input unwrapped)."""
    if name in custom_tools:
        return {"id": item_id or new_id("ctc"), "type": "custom_tool_call", "status": status, "call_id": call_id,
                "name": name, "input": custom_input(arguments)}
    return {"id": item_id or new_id("fc"), "type": "function_call", "status": status, "call_id": call_id,
            "name": name, "arguments": arguments}


def custom_input(arguments: str) -> str:
    """A custom tool's raw input from the `{"input": ...}` arguments the model was asked for."""
    try:
        parsed = orjson.loads(arguments) if arguments else {}
    except orjson.JSONDecodeError:
        return arguments
    value = parsed.get(CUSTOM_INPUT) if isinstance(parsed, dict) else None
    return value if isinstance(value, str) else arguments


def reasoning_item(text: str, *, item_id: str | None = None) -> dict[str, Any]:
    """The model's visible reasoning, as a reasoning summary (there is no encrypted content to carry)."""
    return {"id": item_id or new_id("rs"), "type": "reasoning", "summary": [summary_part(text)]}


def summary_part(text: str) -> dict[str, Any]:
    return {"type": "summary_text", "text": text}


def reasoning_text(message: dict[str, Any]) -> str:
    """Reasoning that OpenAI-compatible servers put beside the answer: `reasoning_content` (DeepSeek,
    vLLM) or `reasoning` (OpenRouter)."""
    for name in ("reasoning_content", "reasoning"):
        if isinstance(message.get(name), str) and message[name]:
            return message[name]
    return ""


def output_items(message: Any, custom_tools: frozenset[str]) -> list[dict[str, Any]]:
    message = message if isinstance(message, dict) else {}
    items: list[dict[str, Any]] = []
    reasoning = reasoning_text(message)
    if reasoning:
        items.append(reasoning_item(reasoning))
    text = message.get("content")
    if isinstance(text, list):  # some servers answer with content parts
        text = "".join(p.get("text", "") for p in text if isinstance(p, dict) and isinstance(p.get("text"), str))
    if isinstance(text, str) and text:
        items.append(message_item(text))
    elif isinstance(message.get("refusal"), str) and message["refusal"]:
        items.append({"id": new_id("msg"), "type": "message", "status": "completed", "role": "assistant",
                      "content": [{"type": "refusal", "refusal": message["refusal"]}]})
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            items.append(call_item(str(call.get("id") or new_id("call")), str(function.get("name") or ""),
                                   str(function.get("arguments") or ""), custom_tools))
    return items


def response_usage(usage: Any) -> dict[str, Any]:
    usage = usage if isinstance(usage, dict) else {}
    prompt = _int(usage.get("prompt_tokens"))
    completion = _int(usage.get("completion_tokens"))
    prompt_details = usage.get("prompt_tokens_details") if isinstance(usage.get("prompt_tokens_details"), dict) else {}
    completion_details = (usage.get("completion_tokens_details")
                          if isinstance(usage.get("completion_tokens_details"), dict) else {})
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": _int(prompt_details.get("cached_tokens"))},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": _int(completion_details.get("reasoning_tokens"))},
        "total_tokens": _int(usage.get("total_tokens")) or prompt + completion,
    }


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def to_response(completion: Any, envelope: ResponseEnvelope) -> dict[str, Any]:
    """The first choice of a `chat.completion` as a completed (or incomplete) `response`."""
    completion = completion if isinstance(completion, dict) else {}
    choices = completion.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    finish = choice.get("finish_reason")
    reason = INCOMPLETE_REASONS.get(finish) if isinstance(finish, str) else None
    return envelope.response(
        status="incomplete" if reason else "completed",
        output=output_items(choice.get("message"), envelope.custom_tools),
        model=str(completion.get("model") or ""),
        usage=response_usage(completion.get("usage")),
        incomplete_reason=reason,
    )


def chat_messages_of(output: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A response's output items as the chat messages a follow-up request continues from."""
    text = "".join(part.get("text") or part.get("refusal") or "" for item in output if item["type"] == "message"
                   for part in item["content"])
    calls = []
    for item in output:
        if item["type"] == "function_call":
            calls.append({"id": item["call_id"], "type": "function",
                          "function": {"name": item["name"], "arguments": item["arguments"]}})
        elif item["type"] == "custom_tool_call":
            calls.append({"id": item["call_id"], "type": "function",
                          "function": {"name": item["name"],
                                       "arguments": orjson.dumps({CUSTOM_INPUT: item["input"]}).decode()}})
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    return [message] if text or calls else []
