"""An Anthropic Messages request, translated into an OpenAI chat-completions request. Pure: no I/O.

The reverse of `providers.anthropic.translate_request`, for the inbound `/v1/messages`:
- `system` (string or text blocks) → one system message (blocks joined by a blank line); a
  `system`-role message inside `messages` (Claude Code sends its environment block so) → a system
  message in place: OpenAI-compatible backends see it where the client put it, and the backends
  that take one system prompt (Anthropic, Gemini) merge every system message in order;
- text → text parts (a lone text stays a plain string); `image` (base64 or url source) →
  `image_url` parts; base64 PDF `document`s → `file` parts;
- `tool_use` → assistant `tool_calls` (arguments = compact JSON of the input); each `tool_result`
  → a `tool` message, placed before the rest of its user message. Tool-result text becomes the
  tool message's content; images in a tool result (OpenAI tool messages carry text only) move to
  a user message right after the tool messages. `is_error` has no OpenAI equivalent and is dropped.
- `thinking` / `redacted_thinking` blocks are dropped (their signatures mean nothing elsewhere).
- `tools` → function tools; `tool_choice` auto / any → required / tool → a named function /
  none, `disable_parallel_tool_use` → `parallel_tool_calls: false`;
- `max_tokens`, `temperature`, `top_p`, `stop_sequences` → `stop`, `metadata.user_id` → `user`,
  `stream` (with `stream_options.include_usage`, so the answer's usage can be reported).
- structured outputs: `output_config.format` (what `messages.parse(output_format=...)` sends) or the
  older top-level `output_format`, `{"type": "json_schema", "schema"}` → `response_format` json_schema
  (Gemini's translation makes it `responseSchema`, Anthropic's a forced tool).
Dropped here: `top_k`, `thinking`, `cache_control`, `context_management`, `output_config.effort`,
`service_tier`, ... (`dropped_fields` names the ones that change the answer, for a warning header).
None of this matters to an Anthropic backend: it gets the request as it is (providers.anthropic.native).
Raises InvalidRequest (400) naming the field when the request is not a Messages request we can serve.
With a `skipped` list, what is valid Anthropic but has no chat equivalent (server tools, non-PDF
documents, file sources, server-tool blocks, ...) is left out and named there instead: an Anthropic
backend gets the request as it is anyway, and any other backend refuses it naming those fields.
"""

from __future__ import annotations

from typing import Any

import orjson

from core.errors import InvalidRequest
from proxy.chat_request import check_json_depth

SKIPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})


class Untranslatable(InvalidRequest):
    """Valid Anthropic that the chat shape cannot carry (`param` names where)."""


def _untranslatable(skipped: list[str] | None, error: Untranslatable) -> None:
    if skipped is None:
        raise error
    skipped.append(error.message)


def to_openai_request(body: Any, skipped: list[str] | None = None) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    check_json_depth(body)  # before any translation recurses into it
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required: a gateway model id, 'auto' or 'auto:<role>'.", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' is required and must be a non-empty list.", param="messages")

    out: list[dict[str, Any]] = []
    system = _system_text(body.get("system"))
    if system:
        out.append({"role": "system", "content": system})
    for index, message in enumerate(messages):
        out.extend(_message(message, f"messages.{index}", skipped))
    request: dict[str, Any] = {"model": model, "messages": out}

    max_tokens = body.get("max_tokens")
    if max_tokens is not None:
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise InvalidRequest("'max_tokens' must be a positive integer.", param="max_tokens")
        request["max_tokens"] = max_tokens
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            request[name] = body[name]  # the pipeline checks the type
    stop = body.get("stop_sequences")
    if isinstance(stop, list) and stop:
        request["stop"] = stop
    tools = _tools(body.get("tools"), skipped)
    if tools:
        request["tools"] = tools
        choice = body.get("tool_choice")
        if choice is not None:
            request.update(_tool_choice(choice))
    response_format = _response_format(body)
    if response_format is not None:
        request["response_format"] = response_format
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        request["user"] = metadata["user_id"]
    if body.get("stream") is True:
        request["stream"] = True
        request["stream_options"] = {"include_usage": True}
    return request


def _response_format(body: dict[str, Any]) -> dict[str, Any] | None:
    config = body.get("output_config")
    if config is not None and not isinstance(config, dict):
        raise InvalidRequest("'output_config' must be an object.", param="output_config")
    found = [(name, value) for name, value in (("output_config.format", (config or {}).get("format")),
                                               ("output_format", body.get("output_format"))) if value is not None]
    if not found:
        return None
    param, spec = found[0]
    if not isinstance(spec, dict) or spec.get("type") != "json_schema" or not isinstance(spec.get("schema"), dict):
        raise InvalidRequest(f"'{param}' must be {{\"type\": \"json_schema\", \"schema\": {{...}}}}.", param=param)
    return {"type": "json_schema", "json_schema": {"name": "response", "schema": spec["schema"]}}


def dropped_fields(body: dict[str, Any]) -> list[str]:
    """Fields of a Messages request that change the answer and that the chat shape cannot carry (a backend
    other than Anthropic never sees them): named in a warning header, so the client knows."""
    config = body.get("output_config") if isinstance(body.get("output_config"), dict) else {}
    dropped = [name for name in ("thinking", "top_k", "context_management") if body.get(name) is not None]
    if config.get("effort") is not None:
        dropped.append("output_config.effort")
    return dropped


def _system_text(system: Any, param: str = "system") -> str:
    if system is None or isinstance(system, str):
        return system or ""
    if not isinstance(system, list):
        raise InvalidRequest(f"'{param}' must be a string or a list of text blocks.", param=param)
    texts = []
    for index, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
            raise InvalidRequest(f"{param}.{index} must be a text block.", param=f"{param}.{index}")
        texts.append(block["text"])
    return "\n\n".join(text for text in texts if text)


def _message(message: Any, param: str, skipped: list[str] | None) -> list[dict[str, Any]]:
    if not isinstance(message, dict) or message.get("role") not in ("user", "assistant", "system"):
        raise InvalidRequest(f"{param} must be an object with role 'user', 'assistant' or 'system'.", param=param)
    content = message.get("content")
    if message["role"] == "system":
        text = _system_text(content, f"{param}.content")
        return [{"role": "system", "content": text}] if text else []
    if isinstance(content, str):
        return [{"role": message["role"], "content": content}]
    if not isinstance(content, list):
        raise InvalidRequest(f"{param}.content must be a string or a list of blocks.", param=f"{param}.content")
    for index, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise InvalidRequest(f"{param}.content.{index} must be an object with a 'type'.",
                                 param=f"{param}.content.{index}")
    if message["role"] == "assistant":
        return _assistant(content, param, skipped)
    return _user(content, param, skipped)


def _assistant(blocks: list[dict], param: str, skipped: list[str] | None) -> list[dict[str, Any]]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for index, block in enumerate(blocks):
        kind = block["type"]
        if kind == "text":
            texts.append(_text(block, f"{param}.content.{index}"))
        elif kind == "tool_use":
            calls.append({
                "id": str(block.get("id") or ""),
                "type": "function",
                "function": {"name": str(block.get("name") or ""),
                             "arguments": orjson.dumps(block.get("input") or {}).decode()},
            })
        elif kind not in SKIPPED_BLOCKS:
            _untranslatable(skipped, Untranslatable(
                f"{param}.content.{index}: '{kind}' blocks are not supported in assistant turns.",
                param=f"{param}.content.{index}"))
    if not texts and not calls:
        return []
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    return [message]


def _user(blocks: list[dict], param: str, skipped: list[str] | None) -> list[dict[str, Any]]:
    tool_messages: list[dict[str, Any]] = []
    moved_images: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for index, block in enumerate(blocks):
        where = f"{param}.content.{index}"
        try:
            if block["type"] == "tool_result":
                message, images = _tool_result(block, where)
                tool_messages.append(message)
                moved_images.extend(images)
            elif block["type"] not in SKIPPED_BLOCKS:
                parts.append(_part(block, where))
        except Untranslatable as error:
            _untranslatable(skipped, error)
    result = list(tool_messages)
    parts = moved_images + parts
    if parts:
        simple = len(parts) == 1 and parts[0]["type"] == "text"
        result.append({"role": "user", "content": parts[0]["text"] if simple else parts})
    return result


def _text(block: dict, param: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise InvalidRequest(f"{param}.text must be a string.", param=f"{param}.text")
    return text


def _part(block: dict, param: str) -> dict[str, Any]:
    kind = block["type"]
    if kind == "text":
        return {"type": "text", "text": _text(block, param)}
    if kind in ("image", "document"):
        url = _source_url(block.get("source"), param, kind)
        if kind == "image":
            return {"type": "image_url", "image_url": {"url": url}}
        if not url.startswith("data:application/pdf;"):
            raise Untranslatable(f"{param}: only base64 PDF documents are supported.", param=param)
        file: dict[str, Any] = {"file_data": url}
        if isinstance(block.get("title"), str):
            file["filename"] = block["title"]
        return {"type": "file", "file": file}
    raise Untranslatable(f"{param}: '{kind}' blocks are not supported here.", param=param)


def _source_url(source: Any, param: str, kind: str) -> str:
    if isinstance(source, dict):
        if source.get("type") == "base64" and isinstance(source.get("data"), str):
            return f"data:{source.get('media_type') or 'application/octet-stream'};base64,{source['data']}"
        if source.get("type") == "url" and isinstance(source.get("url"), str):
            return source["url"]
    raise Untranslatable(f"{param}.source: a {kind} needs a base64 or url source.", param=f"{param}.source")


def _tool_result(block: dict, param: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequest(f"{param}.tool_use_id is required.", param=f"{param}.tool_use_id")
    content = block.get("content")
    images: list[dict[str, Any]] = []
    if content is None or isinstance(content, str):
        text: Any = content or ""
    elif isinstance(content, list):
        texts = []
        for index, inner in enumerate(content):
            part = _part(inner, f"{param}.content.{index}") if isinstance(inner, dict) else None
            if part is None:
                raise InvalidRequest(f"{param}.content.{index} must be a block.", param=f"{param}.content.{index}")
            (texts if part["type"] == "text" else images).append(part)
        text = texts[0]["text"] if len(texts) == 1 else texts
    else:
        raise InvalidRequest(f"{param}.content must be a string or a list of blocks.", param=f"{param}.content")
    return {"role": "tool", "tool_call_id": call_id, "content": text if text != [] else ""}, images


def _tools(tools: Any, skipped: list[str] | None) -> list[dict[str, Any]]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise InvalidRequest("'tools' must be a list.", param="tools")
    result = []
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise InvalidRequest(f"tools.{index} must be an object with a 'name'.", param=f"tools.{index}")
        if tool.get("type") not in (None, "custom") or not isinstance(tool.get("input_schema"), dict):
            _untranslatable(skipped, Untranslatable(
                f"tools.{index}: server tools ('{tool.get('type')}') are not supported; give 'input_schema'.",
                param=f"tools.{index}",
            ))
            continue
        function: dict[str, Any] = {"name": tool["name"]}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        function["parameters"] = tool["input_schema"]
        result.append({"type": "function", "function": function})
    return result


def _tool_choice(choice: Any) -> dict[str, Any]:
    kind = choice.get("type") if isinstance(choice, dict) else None
    mapped: dict[str, Any]
    if kind == "auto":
        mapped = {"tool_choice": "auto"}
    elif kind == "any":
        mapped = {"tool_choice": "required"}
    elif kind == "none":
        return {"tool_choice": "none"}
    elif kind == "tool" and isinstance(choice.get("name"), str):
        mapped = {"tool_choice": {"type": "function", "function": {"name": choice["name"]}}}
    else:
        raise InvalidRequest("'tool_choice' must have type auto, any, tool (with a name) or none.",
                             param="tool_choice")
    if choice.get("disable_parallel_tool_use") is True:
        mapped["parallel_tool_calls"] = False
    return mapped
