"""Parsing and validating an incoming chat-completions request, without touching what we forward.

The body is kept as the client sent it (unknown fields included); we only check what we must read
and what an upstream would reject with a less helpful message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from core.errors import InvalidRequest, PayloadTooLarge
from routing.selection import AUTO_MODEL

MESSAGE_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
MAX_ID_LENGTH = 200
# What is forwarded is re-encoded with orjson, which refuses more than 254 levels; translations add a few.
MAX_JSON_DEPTH = 128

# Field → (accepted Python types, human name). Checked only when present and not null.
FIELD_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "stream": ((bool,), "a boolean"),
    "temperature": ((int, float), "a number"),
    "top_p": ((int, float), "a number"),
    "presence_penalty": ((int, float), "a number"),
    "frequency_penalty": ((int, float), "a number"),
    "max_tokens": ((int,), "an integer"),
    "max_completion_tokens": ((int,), "an integer"),
    "n": ((int,), "an integer"),
    "seed": ((int,), "an integer"),
    "user": ((str,), "a string"),
    "stop": ((str, list), "a string or a list of strings"),
    "tools": ((list,), "a list"),
    "tool_choice": ((str, dict), "a string or an object"),
    "response_format": ((dict,), "an object"),
    "stream_options": ((dict,), "an object"),
    "logit_bias": ((dict,), "an object"),
    "parallel_tool_calls": ((bool,), "a boolean"),
    "metadata": ((dict,), "an object"),
}


@dataclass(slots=True)
class ChatRequest:
    body: dict[str, Any]
    model: str
    stream: bool
    include_usage: bool
    role: str | None
    conversation_id: str
    profile: str | None
    needs: frozenset[str] = field(default_factory=frozenset)  # capabilities: tools, json, vision


def parse_chat_request(
    raw: bytes, headers: Mapping[str, str], *, max_messages: int, known_roles: frozenset[str]
) -> ChatRequest:
    """Raises InvalidRequest (400) naming the field to fix, PayloadTooLarge (413) for too many messages."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON ({exc}).") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    if raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH:  # fewer brackets cannot nest that deep
        check_json_depth(body)

    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("'model' is required: a model id, 'auto' or 'auto:<role>'.", param="model")
    _check_printable(model, "model")

    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' is required and must be a non-empty list.", param="messages")
    if len(messages) > max_messages:
        raise PayloadTooLarge(
            f"'messages' has {len(messages)} entries; this gateway accepts at most {max_messages}.",
            param="messages",
        )
    needs: set[str] = set()
    for index, message in enumerate(messages):
        _check_message(message, index, needs)

    for name, (types, description) in FIELD_TYPES.items():
        value = body.get(name)
        if value is not None and (not isinstance(value, types) or isinstance(value, bool) and bool not in types):
            raise InvalidRequest(f"'{name}' must be {description}.", param=name)
    n = body.get("n")
    if n is not None and n < 1:
        raise InvalidRequest("'n' must be at least 1.", param="n")
    if body.get("tools"):
        needs.add("tools")
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema"):
        needs.add("json")

    stream = bool(body.get("stream"))
    options = body.get("stream_options")
    include_usage = stream and isinstance(options, dict) and options.get("include_usage") is True

    role = _gateway_value(body, headers, "role", "x-gateway-role")
    if model.startswith(f"{AUTO_MODEL}:"):
        role = model.split(":", 1)[1] or role
    if role is not None and role not in known_roles:
        raise InvalidRequest(
            f"Unknown role '{role}'. Use one of: {', '.join(sorted(known_roles))}.", param="role"
        )
    conversation_id = _gateway_value(body, headers, "conversation_id", "x-conversation-id") or ""
    profile = _gateway_value(body, headers, "profile", "x-gateway-profile")
    return ChatRequest(
        body=body,
        model=model,
        stream=stream,
        include_usage=include_usage,
        role=role,
        conversation_id=conversation_id,
        profile=profile,
        needs=frozenset(needs),
    )


def check_json_depth(body: Any) -> None:
    """Raises InvalidRequest (400) when `body` nests containers more than MAX_JSON_DEPTH levels deep."""
    stack = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise InvalidRequest(f"The request body is nested more than {MAX_JSON_DEPTH} levels deep.")
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def _check_message(message: Any, index: int, needs: set[str]) -> None:
    param = f"messages[{index}]"
    if not isinstance(message, dict):
        raise InvalidRequest(f"{param} must be an object with 'role' and 'content'.", param=param)
    role = message.get("role")
    if role not in MESSAGE_ROLES:
        raise InvalidRequest(
            f"{param}.role must be one of {', '.join(sorted(MESSAGE_ROLES))}.", param=f"{param}.role"
        )
    content = message.get("content")
    if content is None:
        if role in ("user", "system", "developer"):
            raise InvalidRequest(f"{param}.content is required for a {role} message.", param=f"{param}.content")
        return
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise InvalidRequest(f"{param}.content must be a string or a list of parts.", param=f"{param}.content")
    for part_index, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise InvalidRequest(
                f"{param}.content[{part_index}] must be an object with a 'type'.",
                param=f"{param}.content[{part_index}]",
            )
        if part["type"] in ("image_url", "input_image"):
            needs.add("vision")


def _gateway_value(body: dict, headers: Mapping[str, str], field_name: str, header: str) -> str | None:
    value = body.get(field_name)
    if value is None:
        value = headers.get(header)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"'{field_name}' must be a string.", param=field_name)
    _check_printable(value, field_name)
    return value


def _check_printable(value: str, param: str) -> None:
    """Ids end up in headers and logs: no control characters, bounded length."""
    if len(value) > MAX_ID_LENGTH:
        raise InvalidRequest(f"'{param}' is longer than {MAX_ID_LENGTH} characters.", param=param)
    if not value.isprintable():
        raise InvalidRequest(f"'{param}' contains control characters.", param=param)
