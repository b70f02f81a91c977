"""OpenAI chat-completions request → Gemini `generateContent` request (pure; shared by Gemini and Vertex).

Roles: system/developer → `systemInstruction`; user and tool results → `user` turns; assistant →
`model` turns; consecutive turns of one role are merged, as Gemini wants them alternating. Tool
results become `functionResponse` parts named after the assistant tool call they answer. Tool call ids
carry Gemini's thought signatures (see `ids`).
"""

from __future__ import annotations

import mimetypes
from typing import Any

import orjson

from providers.google.ids import split_tool_call_id
from providers.google.schema import SchemaError, to_gemini_schema
from providers.translation import TranslationError, tool_arguments


def to_gemini_request(body: dict) -> dict:
    """The Gemini request body for an OpenAI request. Raises TranslationError."""
    _reject_unsupported(body)
    system, contents = _contents(body.get("messages") or [])
    request: dict[str, Any] = {"contents": contents}
    if system:
        request["systemInstruction"] = {"parts": system}
    tools, tool_config = _tools(body)
    if tools:
        request["tools"] = tools
    if tool_config:
        request["toolConfig"] = tool_config
    config = _generation_config(body)
    if config:
        request["generationConfig"] = config
    return request


def _reject_unsupported(body: dict) -> None:
    if body.get("logprobs") or body.get("top_logprobs"):
        raise TranslationError("logprobs")
    modalities = body.get("modalities")
    if body.get("audio") or isinstance(modalities, list) and "audio" in modalities:
        raise TranslationError("audio output")


# --- messages ---------------------------------------------------------------------------------------

def _contents(messages: list) -> tuple[list[dict], list[dict]]:
    system: list[dict] = []
    contents: list[dict] = []
    names: dict[str, str] = {}  # tool call id → function name, from earlier assistant messages
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            continue
        role, content = message.get("role"), message.get("content")
        where = f"messages[{index}]"
        if role in ("system", "developer"):
            system.extend(_text_parts(content, role))
        elif role == "user":
            _append(contents, "user", _user_parts(content, where))
        elif role == "assistant":
            _append(contents, "model", _assistant_parts(message, where, names))
        elif role == "tool":
            call_id = message.get("tool_call_id")
            name = names.get(call_id) if isinstance(call_id, str) else None
            name = name or message.get("name")
            if not isinstance(name, str) or not name:
                raise TranslationError(
                    f"{where} answers tool call '{call_id}', which no earlier assistant message made.",
                    unsupported=False,
                )
            response: dict[str, Any] = {"name": name, "response": _tool_result(content)}
            if isinstance(call_id, str) and call_id:
                response = {"id": split_tool_call_id(call_id)[0], **response}
            _append(contents, "user", [{"functionResponse": response}])
        elif role == "function":  # the legacy form of a tool result
            name = message.get("name")
            if not isinstance(name, str) or not name:
                raise TranslationError(f"{where} (a function result) needs a 'name'.", unsupported=False)
            _append(contents, "user", [{"functionResponse": {"name": name, "response": _tool_result(content)}}])
    return system, contents


def _append(contents: list[dict], role: str, parts: list[dict]) -> None:
    if not parts:
        return  # Gemini rejects empty turns; an empty message says nothing anyway
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def _text_parts(content: Any, role: str) -> list[dict]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts = []
    for part in content or ():
        if isinstance(part, dict) and part.get("type") in ("text", "refusal"):
            text = part.get("text") if part.get("type") == "text" else part.get("refusal")
            if isinstance(text, str) and text:
                parts.append({"text": text})
        else:
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise TranslationError(f"'{kind}' content in {role} messages")
    return parts


def _user_parts(content: Any, where: str) -> list[dict]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts = []
    for part in content or ():
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if part.get("text"):
                parts.append({"text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            parts.append(_media_part(url, "image/jpeg", where))
        elif kind == "input_audio":
            audio = part.get("input_audio") or {}
            fmt = str(audio.get("format") or "wav")
            parts.append({"inlineData": {"mimeType": f"audio/{fmt}", "data": str(audio.get("data") or "")}})
        elif kind == "file":
            file = part.get("file") or {}
            if not file.get("file_data"):
                raise TranslationError("file references by 'file_id'")
            guess = mimetypes.guess_type(str(file.get("filename") or ""))[0] or "application/pdf"
            data = str(file["file_data"])
            parts.append(_media_part(data, guess, where) if data.startswith("data:")
                         else {"inlineData": {"mimeType": guess, "data": data}})
        else:
            raise TranslationError(f"'{kind}' content parts")
    return parts


def _media_part(url: Any, default_mime: str, where: str) -> dict:
    if not isinstance(url, str) or not url:
        raise TranslationError(f"{where} has an image or file part without a URL.", unsupported=False)
    if url.startswith("data:"):
        header, _, data = url[5:].partition(",")
        mime, _, encoding = header.partition(";")
        if encoding != "base64" or not data:
            raise TranslationError(f"{where} has a data URL that is not base64.", unsupported=False)
        return {"inlineData": {"mimeType": mime or default_mime, "data": data}}
    if url.startswith(("http://", "https://", "gs://")):
        path = url.split("?", 1)[0].split("#", 1)[0]
        return {"fileData": {"mimeType": mimetypes.guess_type(path)[0] or default_mime, "fileUri": url}}
    raise TranslationError(f"{where} has a URL Gemini cannot fetch: use https or a data URL.", unsupported=False)


def _assistant_parts(message: dict, where: str, names: dict[str, str]) -> list[dict]:
    parts = _text_parts(message.get("content"), "assistant")
    calls = message.get("tool_calls") or []
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        calls = [*calls, {"type": "function", "function": legacy}]
    for position, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise TranslationError(f"{where}.tool_calls[{position}] needs a function name.", unsupported=False)
        function_call: dict[str, Any] = {"name": function["name"], "args": tool_arguments(function.get("arguments"))}
        part: dict[str, Any] = {"functionCall": function_call}
        call_id = call.get("id")
        signature = None
        if isinstance(call_id, str) and call_id:
            base, signature = split_tool_call_id(call_id)
            names[call_id] = function["name"]
            function_call["id"] = base
        signature = signature or _extra_signature(call)
        if signature:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _extra_signature(call: dict) -> str | None:
    """Google's own OpenAI layer returns signatures as `extra_content.google.thought_signature`."""
    extra = call.get("extra_content")
    google = extra.get("google") if isinstance(extra, dict) else None
    signature = google.get("thought_signature") if isinstance(google, dict) else None
    return signature if isinstance(signature, str) and signature else None



def _tool_result(content: Any) -> dict:
    """Gemini wants an object: the result itself when it is a JSON object, else {"content": text}."""
    if isinstance(content, list):
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    text = content if isinstance(content, str) else "" if content is None else str(content)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    return value if isinstance(value, dict) else {"content": text}


# --- tools and generation settings ------------------------------------------------------------------

def _tools(body: dict) -> tuple[list[dict], dict | None]:
    declarations = []
    for tool in body.get("tools") or ():
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else "?"
            raise TranslationError(f"tools of type '{kind}'")
        function = tool.get("function") or {}
        declaration: dict[str, Any] = {"name": function.get("name")}
        if function.get("description"):
            declaration["description"] = function["description"]
        if isinstance(function.get("parameters"), dict):
            try:
                declaration["parameters"] = to_gemini_schema(function["parameters"])
            except SchemaError as exc:
                raise TranslationError(f"the parameters of tool '{declaration['name']}': {exc}") from None
        declarations.append(declaration)
    choice = body.get("tool_choice")
    config: dict[str, Any] | None = None
    if choice == "none":
        config = {"mode": "NONE"}
    elif choice == "auto":
        config = {"mode": "AUTO"}
    elif choice == "required":
        config = {"mode": "ANY"}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        config = {"mode": "ANY", "allowedFunctionNames": [name]}
    elif isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        names = {(t.get("function") or {}).get("name") for t in allowed.get("tools") or () if isinstance(t, dict)}
        declarations = [d for d in declarations if d["name"] in names]
        config = {"mode": "ANY" if allowed.get("mode") == "required" else "AUTO"}
    tools = [{"functionDeclarations": declarations}] if declarations else []
    return tools, ({"functionCallingConfig": config} if config and declarations else None)


def _generation_config(body: dict) -> dict:
    config: dict[str, Any] = {}
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK"), ("seed", "seed"),
                         ("presence_penalty", "presencePenalty"), ("frequency_penalty", "frequencyPenalty")):
        if body.get(ours) is not None:
            config[theirs] = body[ours]
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    n = body.get("n")
    if isinstance(n, int) and n > 1:
        config["candidateCount"] = n
    response_format = body.get("response_format")
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        if isinstance(schema, dict):
            try:
                config["responseSchema"] = to_gemini_schema(schema)
            except SchemaError as exc:
                raise TranslationError(f"the response_format schema: {exc}") from None
    return config
