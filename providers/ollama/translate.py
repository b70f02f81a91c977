"""OpenAI chat requests ↔ Ollama's native `/api/chat` (pure functions).

Ollama wants string contents with images as base64 `images`, tool call arguments as objects, sampling
settings under `options`, and `format` for JSON mode. Its answers carry no tool call ids: fresh
`call_<hex>` ids are made (or Ollama's own, when a version sends one).
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from providers.translation import TranslationError, tool_arguments

FINISH_REASONS = {"length": "length", "stop": "stop"}



def to_ollama_request(body: dict, model: str, *, stream: bool) -> dict:
    """The `/api/chat` body for an OpenAI request. Raises TranslationError."""
    if isinstance(body.get("n"), int) and body["n"] > 1:
        raise TranslationError("n>1")
    if body.get("logprobs") or body.get("top_logprobs"):
        raise TranslationError("logprobs")
    modalities = body.get("modalities")
    if body.get("audio") or isinstance(modalities, list) and "audio" in modalities:
        raise TranslationError("audio output")
    request: dict[str, Any] = {"model": model, "messages": _messages(body.get("messages") or []), "stream": stream}
    tools = _tools(body)
    if tools:
        request["tools"] = tools
    options = _options(body)
    if options:
        request["options"] = options
    response_format = body.get("response_format")
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "json_object":
        request["format"] = "json"
    elif kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        request["format"] = schema if isinstance(schema, dict) else "json"
    return request


def _messages(messages: list) -> list[dict]:
    out: list[dict] = []
    names: dict[str, str] = {}  # tool call id → function name
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        where = f"messages[{index}]"
        text, images = _content(message.get("content"), where, allow_images=role == "user")
        if role in ("system", "developer"):
            out.append({"role": "system", "content": text})
        elif role == "user":
            out.append({"role": "user", "content": text, **({"images": images} if images else {})})
        elif role == "assistant":
            entry: dict[str, Any] = {"role": "assistant", "content": text}
            calls = [_tool_call(call, f"{where}.tool_calls[{i}]", names)
                     for i, call in enumerate(message.get("tool_calls") or ())]
            if calls:
                entry["tool_calls"] = calls
            out.append(entry)
        elif role in ("tool", "function"):
            call_id = message.get("tool_call_id")
            entry = {"role": "tool", "content": text}
            name = names.get(call_id) if isinstance(call_id, str) else None
            name = name or message.get("name")
            if isinstance(name, str) and name:
                entry["tool_name"] = name
            if isinstance(call_id, str) and call_id:
                entry["tool_call_id"] = call_id
            out.append(entry)
    return out


def _content(content: Any, where: str, *, allow_images: bool) -> tuple[str, list[str]]:
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    texts: list[str] = []
    images: list[str] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            texts.append(part["refusal"])
        elif kind == "image_url" and allow_images:
            image = part.get("image_url")
            images.append(_image_data(image.get("url") if isinstance(image, dict) else image, where))
        else:
            raise TranslationError(f"'{kind}' content parts" if allow_images or kind != "image_url"
                                   else "images outside user messages")
    return "\n".join(texts), images


def _image_data(url: Any, where: str) -> str:
    if not isinstance(url, str) or not url.startswith("data:"):
        # Fetching the URL ourselves would let clients make the gateway request arbitrary hosts.
        raise TranslationError("image URLs (send the image as a base64 data URL)")
    header, _, data = url[5:].partition(",")
    if not header.endswith(";base64") or not data:
        raise TranslationError(f"{where} has an image data URL that is not base64.", unsupported=False)
    return data


def _tool_call(call: Any, where: str, names: dict[str, str]) -> dict:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise TranslationError(f"{where} needs a function name.", unsupported=False)
    arguments = tool_arguments(function.get("arguments"))
    entry: dict[str, Any] = {"function": {"name": function["name"], "arguments": arguments}}
    if isinstance(call.get("id"), str) and call["id"]:
        names[call["id"]] = function["name"]
        entry["id"] = call["id"]
    return entry



def _tools(body: dict) -> list[dict]:
    choice = body.get("tool_choice")
    if choice == "none":
        return []
    if choice not in (None, "auto"):
        label = choice if isinstance(choice, str) else (choice.get("type") if isinstance(choice, dict) else "?")
        raise TranslationError(f"tool_choice '{label}'")
    tools = []
    for tool in body.get("tools") or ():
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise TranslationError(f"tools of type '{tool.get('type') if isinstance(tool, dict) else '?'}'")
        function = tool.get("function") or {}
        spec = {key: function[key] for key in ("name", "description", "parameters") if key in function}
        tools.append({"type": "function", "function": spec})
    return tools


def _options(body: dict) -> dict:
    options: dict[str, Any] = {}
    for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p"), ("top_k", "top_k"), ("seed", "seed"),
                         ("presence_penalty", "presence_penalty"), ("frequency_penalty", "frequency_penalty")):
        if body.get(ours) is not None:
            options[theirs] = body[ours]
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens is not None:
        options["num_predict"] = max_tokens
    stop = body.get("stop")
    if stop:
        options["stop"] = [stop] if isinstance(stop, str) else list(stop)
    return options


# --- answers ----------------------------------------------------------------------------------------

def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def tool_calls_from_ollama(message: Any) -> list[dict]:
    calls = []
    for call in (message.get("tool_calls") if isinstance(message, dict) else None) or ():
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        arguments = function.get("arguments")
        calls.append({
            "id": call["id"] if isinstance(call.get("id"), str) and call["id"] else new_id("call_"),
            "type": "function",
            "function": {
                "name": str(function.get("name", "")),
                "arguments": arguments if isinstance(arguments, str) else orjson.dumps(arguments or {}).decode(),
            },
        })
    return calls


def finish_reason(done_reason: Any, has_tool_calls: bool) -> str:
    mapped = FINISH_REASONS.get(str(done_reason), "stop")
    return "tool_calls" if has_tool_calls and mapped == "stop" else mapped


def usage_from_ollama(data: dict) -> dict:
    prompt, completion = _int(data.get("prompt_eval_count")), _int(data.get("eval_count"))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def completion_from_ollama(data: dict, *, model: str, created: int) -> dict:
    """The OpenAI `chat.completion` for a finished (`done: true`) `/api/chat` answer."""
    message = data.get("message") if isinstance(data.get("message"), dict) else {}
    calls = tool_calls_from_ollama(message)
    content = message.get("content") if isinstance(message.get("content"), str) else ""
    answer: dict[str, Any] = {"role": "assistant", "content": content or (None if calls else ""), "refusal": None}
    if calls:
        answer["tool_calls"] = calls
    return {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": created,
        "model": str(data.get("model") or model),
        "choices": [{"index": 0, "message": answer, "logprobs": None,
                     "finish_reason": finish_reason(data.get("done_reason"), bool(calls))}],
        "usage": usage_from_ollama(data),
    }


class StreamTranslator:
    """One NDJSON object in, OpenAI chunks out; `done` once the final object (`done: true`) arrived."""

    def __init__(self, *, model: str, created: int) -> None:
        self.id = new_id("chatcmpl-")
        self.model = model
        self.created = created
        self.done = False
        self._started = False
        self._tool_calls = 0

    def feed(self, data: dict) -> list[dict]:
        if not self._started:
            self.model = str(data.get("model") or self.model)
        chunks = []
        if not self._started:
            self._started = True
            chunks.append(self._chunk({"role": "assistant", "content": "", "refusal": None}))
        message = data.get("message") if isinstance(data.get("message"), dict) else {}
        if isinstance(message.get("content"), str) and message["content"]:
            chunks.append(self._chunk({"content": message["content"]}))
        for call in tool_calls_from_ollama(message):
            head = {"index": self._tool_calls, "id": call["id"], "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""}}
            chunks.append(self._chunk({"tool_calls": [head]}))
            arguments = {"index": self._tool_calls, "function": {"arguments": call["function"]["arguments"]}}
            chunks.append(self._chunk({"tool_calls": [arguments]}))
            self._tool_calls += 1
        if data.get("done") is True:
            self.done = True
            chunks.append(self._chunk({}, finish_reason(data.get("done_reason"), self._tool_calls > 0)))
            chunks.append({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                           "model": self.model, "choices": [], "usage": usage_from_ollama(data)})
        return chunks

    def _chunk(self, delta: dict, finish: str | None = None) -> dict:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
