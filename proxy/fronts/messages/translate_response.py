"""OpenAI answers and errors, translated into Anthropic's Messages shapes. Pure: no I/O."""

from __future__ import annotations

from typing import Any

import orjson

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}

# Anthropic's error type for each status the gateway may answer with.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}
KNOWN_ERROR_TYPES = frozenset(ERROR_TYPES.values()) | {"api_error"}


def stop_reason(finish_reason: Any) -> str:
    return STOP_REASONS.get(finish_reason, "end_turn") if isinstance(finish_reason, str) else "end_turn"


def message_id(openai_id: Any) -> str:
    text = str(openai_id or "")
    return text if text.startswith("msg_") else f"msg_{text}"


def anthropic_usage(usage: Any) -> dict[str, int]:
    """OpenAI's prompt includes cached tokens; Anthropic counts cache reads apart from `input_tokens`."""
    usage = usage if isinstance(usage, dict) else {}
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    cached = cached if isinstance(cached, int) and cached > 0 else 0
    prompt = usage.get("prompt_tokens") if isinstance(usage.get("prompt_tokens"), int) else 0
    completion = usage.get("completion_tokens") if isinstance(usage.get("completion_tokens"), int) else 0
    return {"input_tokens": max(prompt - cached, 0), "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": cached, "output_tokens": completion}


def tool_input(arguments: Any) -> dict[str, Any]:
    """A tool call's arguments as Anthropic's `input` object; `{}` when the model sent no valid object."""
    try:
        parsed = orjson.loads(arguments) if isinstance(arguments, (str, bytes)) and arguments else {}
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def to_anthropic_message(completion: Any, *, model: str) -> dict[str, Any]:
    """The first choice of an OpenAI `chat.completion` as an Anthropic `message`."""
    completion = completion if isinstance(completion, dict) else {}
    choices = completion.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    reply = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    content: list[dict[str, Any]] = []
    text = reply.get("content")
    if isinstance(text, list):  # some servers answer with content parts
        text = "".join(p.get("text", "") for p in text if isinstance(p, dict) and isinstance(p.get("text"), str))
    refused = not text and isinstance(reply.get("refusal"), str) and reply["refusal"]
    if refused:
        text = reply["refusal"]
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    for call in reply.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            content.append({"type": "tool_use", "id": str(call.get("id") or ""),
                            "name": str(function.get("name") or ""), "input": tool_input(function.get("arguments"))})
    return {
        "id": message_id(completion.get("id")),
        "type": "message",
        "role": "assistant",
        "model": str(completion.get("model") or model),
        "content": content,
        "stop_reason": "refusal" if refused else stop_reason(choice.get("finish_reason")),
        "stop_sequence": None,
        "usage": anthropic_usage(completion.get("usage")),
    }


def error_type_for(status: int) -> str:
    return ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_body(status: int, message: str, error_type: str | None = None) -> dict[str, Any]:
    """Anthropic's error shape; `error_type` wins when it is one of Anthropic's own types."""
    kind = error_type if error_type in KNOWN_ERROR_TYPES else error_type_for(status)
    return {"type": "error", "error": {"type": kind, "message": message}}


def error_from_openai(error: Any) -> dict[str, Any]:
    """A mid-stream OpenAI error object (`{"message", "type", "code"}`) as Anthropic's error body."""
    error = error if isinstance(error, dict) else {}
    message = str(error.get("message") or "The upstream failed mid-stream.")
    for candidate in (error.get("code"), error.get("type")):
        if candidate in KNOWN_ERROR_TYPES:
            return error_body(502, message, candidate)
    return error_body(502, message)
