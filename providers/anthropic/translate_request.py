"""An OpenAI chat-completions request, translated into an Anthropic Messages request. Pure: no I/O.

What maps:
- `system` / `developer` messages → `system` (a string for one string message, else text blocks;
  one found mid-conversation is hoisted there too: Anthropic has no other place for it).
- content parts: text; images as base64 data URLs or http(s) URLs; PDF files given as `file_data`
  data URLs → `document` blocks. Consecutive same-role messages are merged, as Anthropic requires.
- assistant `tool_calls` → `tool_use` blocks (input = the parsed arguments, which must be a JSON
  object); `tool` messages → `tool_result` blocks, consecutive ones (and a user message after them)
  in one user message. Call ids are made to fit Anthropic's `[a-zA-Z0-9_-]` (see `tool_id`).
- `tools`, `tool_choice` (auto / required → any / a named function → tool / none),
  `parallel_tool_calls: false` → `disable_parallel_tool_use`.
- `max_completion_tokens` / `max_tokens` → `max_tokens` (DEFAULT_MAX_TOKENS when absent: Anthropic
  requires it, and 4096 is valid for every Claude model), `temperature` (clamped to Anthropic's
  0–1), `top_p`, `top_k`, `stop` → `stop_sequences`, `user` → `metadata.user_id`, `stream`.
- JSON mode. Claude has no JSON mode, so `response_format: json_object` appends JSON_INSTRUCTION to
  the system prompt: reliable in practice, not enforced. `json_schema` is served the enforced way:
  a tool whose input schema is the requested schema, forced by `tool_choice`; the response
  translators turn that tool's input back into the message content (`Translated.json_tool`).
  Together with the client's own `tools` it is unsupported (forcing one tool would hide the others).

Raises UnsupportedFeature (before anything is sent) for: a request with no user or assistant
message (Anthropic needs one), `n` > 1, `logprobs` / `top_logprobs`,
audio input or output, legacy `functions` / `function` messages, non-function tools, file ids,
non-PDF files, images that are neither base64 data URLs nor http(s), tool-call arguments that are
not a JSON object. Sampling hints Anthropic lacks (`seed`, `presence_penalty`, `frequency_penalty`,
`logit_bias`, `reasoning_effort`, ...) and OpenAI-only fields (`store`, `metadata`, `service_tier`,
`stream_options`, ...) are dropped: Anthropic rejects fields it does not know.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from providers.anthropic.errors import UnsupportedFeature

DEFAULT_MAX_TOKENS = 4096
JSON_INSTRUCTION = (
    "Respond with a single valid JSON object and nothing else: no text before or after it, "
    "no Markdown code fences."
)
JSON_TOOL_DESCRIPTION = "Give your final answer by calling this tool; its input is the answer."
DEFAULT_JSON_TOOL = "json_response"
EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}
_NOT_ID_CHARS = re.compile(r"[^a-zA-Z0-9_-]")


@dataclass(slots=True)
class Translated:
    payload: dict[str, Any]
    json_tool: str | None = None  # the forced tool carrying a json_schema answer, if any


def to_anthropic(body: dict[str, Any], upstream_model: str) -> Translated:
    """Raises UnsupportedFeature naming what the Messages API cannot do."""
    _check_unsupported(body)
    system, messages = _messages(body.get("messages") or [])
    if not messages:
        raise UnsupportedFeature("a conversation without user or assistant messages")
    payload: dict[str, Any] = {"model": upstream_model, "max_tokens": _max_tokens(body)}

    tools = _tools(body.get("tools"))
    tool_choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls")) if tools else None
    json_tool = None
    response_format = body.get("response_format")
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "json_object":
        system.append({"type": "text", "text": JSON_INSTRUCTION})
    elif kind == "json_schema":
        if tools:
            raise UnsupportedFeature("response_format json_schema together with tools")
        json_tool, tool = _json_schema_tool(response_format.get("json_schema"))
        tools, tool_choice = [tool], {"type": "tool", "name": json_tool}
    elif kind not in (None, "text"):
        raise UnsupportedFeature(f"response_format '{kind}'")

    if system:
        only = system[0]
        payload["system"] = only["text"] if len(system) == 1 and set(only) == {"type", "text"} else system
    payload["messages"] = messages
    if tools:
        payload["tools"] = tools
        if tool_choice is not None:
            payload["tool_choice"] = tool_choice
    temperature = body.get("temperature")
    if isinstance(temperature, (int, float)):
        payload["temperature"] = min(max(float(temperature), 0.0), 1.0)
    for name in ("top_p", "top_k"):
        if isinstance(body.get(name), (int, float)):
            payload[name] = body[name]
    stop = body.get("stop")
    if isinstance(stop, str) and stop:
        payload["stop_sequences"] = [stop]
    elif isinstance(stop, list) and stop:
        payload["stop_sequences"] = [str(item) for item in stop]
    if isinstance(body.get("user"), str) and body["user"]:
        payload["metadata"] = {"user_id": body["user"]}
    if body.get("stream"):
        payload["stream"] = True
    return Translated(payload, json_tool)


def _check_unsupported(body: dict[str, Any]) -> None:
    n = body.get("n")
    if isinstance(n, int) and n > 1:
        raise UnsupportedFeature("n > 1 (several choices)")
    if body.get("logprobs") or body.get("top_logprobs"):
        raise UnsupportedFeature("logprobs")
    modalities = body.get("modalities")
    if body.get("audio") or (isinstance(modalities, list) and "audio" in modalities):
        raise UnsupportedFeature("audio output")
    if body.get("functions") or body.get("function_call"):
        raise UnsupportedFeature("legacy 'functions' / 'function_call'")


def _max_tokens(body: dict[str, Any]) -> int:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return DEFAULT_MAX_TOKENS


def _messages(messages: list[Any]) -> tuple[list[dict], list[dict]]:
    system: list[dict] = []
    turns: list[dict] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            system.extend(block for block in _blocks(content) if _is_text(block, "system message"))
        elif role == "user":
            _append(turns, "user", _blocks(content))
        elif role == "assistant":
            if message.get("function_call"):
                raise UnsupportedFeature("legacy 'function_call' messages")
            blocks = _blocks(content, assistant=True)
            blocks.extend(_tool_use(call) for call in message.get("tool_calls") or ())
            _append(turns, "assistant", blocks)
        elif role == "tool":
            _append(turns, "user", [_tool_result(message)])
        else:
            raise UnsupportedFeature(f"'{role}' messages")
    return system, turns


def _append(turns: list[dict], role: str, blocks: list[dict]) -> None:
    if not blocks:
        return  # Anthropic rejects empty content; an empty message carries nothing anyway
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def _is_text(block: dict, where: str) -> bool:
    if block["type"] != "text":
        raise UnsupportedFeature(f"{block['type']} content in a {where}")
    return True


def _blocks(content: Any, assistant: bool = False) -> list[dict]:
    """Anthropic content blocks for an OpenAI `content` (string, parts or null); empty text dropped."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for part in content if isinstance(content, list) else ():
        block = _part(part, assistant)
        if block is not None:
            blocks.append(block)
    return blocks


def _part(part: Any, assistant: bool) -> dict | None:
    if not isinstance(part, dict):
        return None
    kind = part.get("type")
    if kind == "text" or (assistant and kind == "refusal"):
        text = part.get("text") if kind == "text" else part.get("refusal")
        return {"type": "text", "text": text} if isinstance(text, str) and text else None
    if kind in ("image_url", "input_image"):
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        return {"type": "image", "source": _source(url, "image")}
    if kind == "file":
        return _document(part.get("file"))
    if kind in ("input_audio", "audio"):
        raise UnsupportedFeature("audio input")
    raise UnsupportedFeature(f"content part type '{kind}'")


def _source(url: Any, what: str) -> dict[str, str]:
    if not isinstance(url, str):
        raise UnsupportedFeature(f"{what} without a URL")
    if url.startswith("data:"):
        header, _, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if encoding != "base64" or not data:
            raise UnsupportedFeature(f"{what} data URLs that are not base64")
        return {"type": "base64", "media_type": "image/jpeg" if media_type == "image/jpg" else media_type,
                "data": data}
    if url.startswith(("https://", "http://")):
        return {"type": "url", "url": url}
    raise UnsupportedFeature(f"{what} URLs other than http(s) and base64 data URLs")


def _document(file: Any) -> dict:
    if not isinstance(file, dict) or not isinstance(file.get("file_data"), str):
        raise UnsupportedFeature("file references (file_id)")
    source = _source(file["file_data"], "file")
    if source.get("media_type") != "application/pdf":
        raise UnsupportedFeature("files other than PDF")
    block: dict[str, Any] = {"type": "document", "source": source}
    if isinstance(file.get("filename"), str) and file["filename"]:
        block["title"] = file["filename"]
    return block


def _tool_use(call: Any) -> dict:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or call.get("type", "function") != "function":
        raise UnsupportedFeature("tool calls other than functions")
    arguments = function.get("arguments") or "{}"
    try:
        parsed = orjson.loads(arguments) if isinstance(arguments, str) else arguments
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise UnsupportedFeature("tool-call arguments that are not a JSON object")
    return {"type": "tool_use", "id": tool_id(call.get("id")), "name": str(function.get("name") or ""),
            "input": parsed}


def tool_id(value: Any) -> str:
    """Anthropic accepts only [a-zA-Z0-9_-] in tool-use ids; some OpenAI-compatible servers send others
    (e.g. `functions.get_weather:0`). The same mapping on both sides keeps calls and results paired."""
    return _NOT_ID_CHARS.sub("_", str(value or ""))


def _tool_result(message: dict) -> dict:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise UnsupportedFeature("tool messages without a tool_call_id")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_id(call_id)}
    content = message.get("content")
    if isinstance(content, str):
        if content:
            block["content"] = content
    elif isinstance(content, list):
        parts = _blocks(content)
        if parts:
            block["content"] = parts
    return block


def _tools(tools: Any) -> list[dict]:
    result = []
    for tool in tools if isinstance(tools, list) else ():
        kind = tool.get("type", "function") if isinstance(tool, dict) else None
        function = tool.get("function") if isinstance(tool, dict) else None
        if kind != "function" or not isinstance(function, dict):
            raise UnsupportedFeature(f"tools of type '{kind}'")
        entry: dict[str, Any] = {"name": str(function.get("name") or "")}
        if isinstance(function.get("description"), str):
            entry["description"] = function["description"]
        parameters = function.get("parameters")
        entry["input_schema"] = parameters if isinstance(parameters, dict) and parameters else EMPTY_SCHEMA
        result.append(entry)
    return result


def _tool_choice(choice: Any, parallel: Any) -> dict | None:
    if choice is None or choice == "auto":
        result: dict[str, Any] = {"type": "auto"}
    elif choice == "required":
        result = {"type": "any"}
    elif choice == "none":
        return {"type": "none"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        result = {"type": "tool", "name": str(choice["function"].get("name") or "")}
    else:
        raise UnsupportedFeature(f"tool_choice {orjson.dumps(choice).decode()[:100]}")
    if parallel is False:
        result["disable_parallel_tool_use"] = True
    elif choice is None:
        return None  # Anthropic's default is auto: leave it out, as the client did
    return result


def _json_schema_tool(spec: Any) -> tuple[str, dict]:
    spec = spec if isinstance(spec, dict) else {}
    schema = spec.get("schema")
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        raise UnsupportedFeature("response_format json_schema whose root is not an object")
    name = spec.get("name") if isinstance(spec.get("name"), str) and spec.get("name") else DEFAULT_JSON_TOOL
    description = spec.get("description") if isinstance(spec.get("description"), str) else JSON_TOOL_DESCRIPTION
    return name, {"name": name, "description": description, "input_schema": schema or EMPTY_SCHEMA}
