"""A Responses API request, translated into a chat-completions request. Pure: no I/O.

- `instructions` → a system message first (not carried over by `previous_response_id`, as OpenAI does);
- `input`: a string → one user message; items: `message` (roles user / assistant / system / developer;
  developer becomes system, which every backend knows), `input_text` / `output_text` / `refusal` →
  text, `input_image` (URL or data URL) → `image_url`, `input_file` with `file_data` → `file`;
  `function_call` / `custom_tool_call` → assistant `tool_calls` (consecutive calls share one assistant
  message), `function_call_output` / `custom_tool_call_output` → `tool` messages; `reasoning` items are
  dropped (encrypted reasoning means nothing to another model), so are Codex's `configuration_update`
  items; Codex's `additional_tools` items add their tools;
- `tools`: `function` → function tools; `custom` (free-form text input) → a function with one string
  parameter `input`; `namespace` → its member tools; built-in tools (web search, file search, code
  interpreter, computer use, image generation, MCP, shell) → 400 naming the field;
- `tool_choice`, `parallel_tool_calls`, `temperature`, `top_p`, `user` → as is; `max_output_tokens` →
  `max_tokens`; `reasoning.effort` → `reasoning_effort`; `text.format` json_schema / json_object →
  `response_format`; `prompt_cache_key` → the gateway's `conversation_id` (when none is given);
- the gateway's own `role`, `conversation_id`, `profile` pass through to the pipeline.
Accepted and not forwarded: `store` (the gateway's own store), `include`, `metadata` (echoed back),
`text.verbosity`, `truncation`, `service_tier`, `client_metadata`, `reasoning.summary`.
Refused with a 400 naming the field: `background: true`, `conversation`, `prompt`, `item_reference` items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from core.errors import InvalidRequest

BUILT_IN_TOOLS = frozenset({
    "web_search", "web_search_preview", "web_search_preview_2025_03_11", "web_search_2025_08_26",
    "file_search", "code_interpreter", "computer_use_preview", "computer_use", "image_generation", "mcp",
    "local_shell", "shell", "apply_patch",
})
MESSAGE_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
IGNORED_ITEMS = frozenset({"reasoning", "configuration_update"})
CUSTOM_INPUT = "input"  # the one parameter of a function standing in for a custom (free-form) tool
PASSED_THROUGH = ("temperature", "top_p", "user", "parallel_tool_calls", "role", "conversation_id", "profile")


@dataclass(slots=True)
class Translation:
    """The chat request, and what the answer's translation needs to know about the request."""

    chat: dict[str, Any]
    new_messages: list[dict[str, Any]]  # this request's input as chat messages (without instructions)
    custom_tools: frozenset[str] = frozenset()  # tool names whose calls go back as custom_tool_call
    tools: list[Any] = field(default_factory=list)  # the request's tools, echoed in the response


def to_chat_request(body: Any, history: list[dict[str, Any]] | None = None) -> Translation:
    """Raises InvalidRequest (400) naming the field when the request is not one the gateway can serve.
    `history`: the chat messages of the response named by `previous_response_id`."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    _refuse_unsupported(body)
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("'model' is required: a model id, 'auto' or 'auto:<role>'.", param="model")

    tools_in: list[Any] = []
    raw_tools = body.get("tools")
    if raw_tools is not None and not isinstance(raw_tools, list):
        raise InvalidRequest("'tools' must be a list.", param="tools")
    tools_in.extend(("tools", index, tool) for index, tool in enumerate(raw_tools or ()))
    new_messages = _input_messages(body.get("input"), tools_in)

    chat: dict[str, Any] = {"model": model}
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise InvalidRequest("'instructions' must be a string.", param="instructions")
        if instructions:
            messages.append({"role": "system", "content": instructions})
    messages.extend(history or ())
    messages.extend(new_messages)
    if not messages:
        raise InvalidRequest("'input' is required: a string or a non-empty list of items.", param="input")
    chat["messages"] = messages

    functions, custom = _tools(tools_in)
    tool_choice = _tool_choice(body["tool_choice"]) if body.get("tool_choice") is not None else None
    if functions:  # chat APIs refuse tool_choice and parallel_tool_calls without tools
        chat["tools"] = functions
        if tool_choice is not None:
            chat["tool_choice"] = tool_choice
    for name in PASSED_THROUGH:
        if body.get(name) is not None and (name != "parallel_tool_calls" or functions):
            chat[name] = body[name]
    if body.get("max_output_tokens") is not None:
        if not isinstance(body["max_output_tokens"], int) or isinstance(body["max_output_tokens"], bool):
            raise InvalidRequest("'max_output_tokens' must be an integer.", param="max_output_tokens")
        chat["max_tokens"] = body["max_output_tokens"]
    effort = _reasoning_effort(body.get("reasoning"))
    if effort:
        chat["reasoning_effort"] = effort
    response_format = _response_format(body.get("text"))
    if response_format:
        chat["response_format"] = response_format
    cache_key = body.get("prompt_cache_key")
    if isinstance(cache_key, str) and cache_key and not body.get("conversation_id"):
        chat["conversation_id"] = cache_key
    if body.get("stream") is not None:
        if not isinstance(body["stream"], bool):
            raise InvalidRequest("'stream' must be a boolean.", param="stream")
        if body["stream"]:
            chat["stream"] = True
            chat["stream_options"] = {"include_usage": True}
    return Translation(chat=chat, new_messages=new_messages, custom_tools=frozenset(custom),
                       tools=list(raw_tools or ()))


def _refuse_unsupported(body: dict[str, Any]) -> None:
    if body.get("background") is True:
        raise InvalidRequest("'background' mode is not supported by this gateway: send the request without it "
                             "(stream it, or wait for the answer).", param="background")
    for name, what in (("conversation", "the Conversations API"), ("prompt", "stored prompt templates")):
        if body.get(name) is not None:
            raise InvalidRequest(f"'{name}' ({what}) is not supported by this gateway: send the input itself "
                                 "(or use previous_response_id).", param=name)
    if "previous_response_id" in body and body["previous_response_id"] is not None and not isinstance(
            body["previous_response_id"], str):
        raise InvalidRequest("'previous_response_id' must be a string.", param="previous_response_id")


def _name(value: Any) -> str | None:
    """A `type` or `role` as a string, or None: set and dict lookups must not meet a list from the wire."""
    return value if isinstance(value, str) else None


def _input_messages(value: Any, tools_in: list[Any]) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list):
        raise InvalidRequest("'input' must be a string or a list of items.", param="input")
    messages: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        param = f"input[{index}]"
        if not isinstance(item, dict):
            raise InvalidRequest(f"{param} must be an object.", param=param)
        kind = _name(item.get("type", "message" if "role" in item else None))
        if kind == "message":
            messages.append(_message(item, param))
        elif kind in ("function_call", "custom_tool_call"):
            _add_tool_call(messages, item, param, custom=kind == "custom_tool_call")
        elif kind in ("function_call_output", "custom_tool_call_output"):
            call_id = item.get("call_id")
            if not isinstance(call_id, str) or not call_id:
                raise InvalidRequest(f"{param}.call_id is required.", param=f"{param}.call_id")
            messages.append({"role": "tool", "tool_call_id": call_id, "content": _output_text(item.get("output"),
                                                                                             f"{param}.output")})
        elif kind == "additional_tools":
            tools = item.get("tools")
            if not isinstance(tools, list):
                raise InvalidRequest(f"{param}.tools must be a list.", param=f"{param}.tools")
            tools_in.extend((f"{param}.tools", position, tool) for position, tool in enumerate(tools))
        elif kind in IGNORED_ITEMS:
            continue
        elif kind == "item_reference":
            raise InvalidRequest(f"{param}: item references are not supported by this gateway; send the item "
                                 "itself, or use previous_response_id.", param=param)
        else:
            raise InvalidRequest(f"{param}.type '{kind}' is not supported by this gateway (supported: message, "
                                 "function_call, function_call_output, custom_tool_call, custom_tool_call_output, "
                                 "reasoning).", param=f"{param}.type")
    return messages


def _message(item: dict[str, Any], param: str) -> dict[str, Any]:
    role = MESSAGE_ROLES.get(_name(item.get("role")) or "")
    if role is None:
        raise InvalidRequest(f"{param}.role must be one of user, assistant, system, developer.", param=f"{param}.role")
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise InvalidRequest(f"{param}.content must be a string or a list of parts.", param=f"{param}.content")
    parts = [_part(part, f"{param}.content[{position}]") for position, part in enumerate(content)]
    if role != "user" or all(part["type"] == "text" for part in parts):
        if any(part["type"] != "text" for part in parts):
            raise InvalidRequest(f"{param}: only user messages may carry images or files.", param=f"{param}.content")
        return {"role": role, "content": "".join(part["text"] for part in parts) if role == "assistant" else
                "\n\n".join(part["text"] for part in parts)}
    return {"role": role, "content": parts}


def _part(part: Any, param: str) -> dict[str, Any]:
    if not isinstance(part, dict):
        raise InvalidRequest(f"{param} must be an object with a 'type'.", param=param)
    kind = _name(part.get("type"))
    if kind in ("input_text", "output_text", "text", "summary_text"):
        text = part.get("text")
        if not isinstance(text, str):
            raise InvalidRequest(f"{param}.text must be a string.", param=f"{param}.text")
        return {"type": "text", "text": text}
    if kind == "refusal":
        return {"type": "text", "text": str(part.get("refusal") or "")}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str) or not url:
            raise InvalidRequest(f"{param}: images need 'image_url' (a URL or a data URL); file ids are not "
                                 "supported by this gateway.", param=f"{param}.image_url")
        image: dict[str, Any] = {"url": url}
        if part.get("detail") in ("low", "high", "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        data = part.get("file_data")
        if not isinstance(data, str) or not data:
            raise InvalidRequest(f"{param}: files need 'file_data' (a data URL); file ids and URLs are not "
                                 "supported by this gateway.", param=f"{param}.file_data")
        return {"type": "file", "file": {"filename": str(part.get("filename") or "file"), "file_data": data}}
    raise InvalidRequest(f"{param}.type '{kind}' is not supported (input_text, output_text, input_image, "
                         "input_file).", param=f"{param}.type")


def _add_tool_call(messages: list[dict[str, Any]], item: dict[str, Any], param: str, *, custom: bool) -> None:
    call_id, name = item.get("call_id"), item.get("name")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequest(f"{param}.call_id is required.", param=f"{param}.call_id")
    if not isinstance(name, str) or not name:
        raise InvalidRequest(f"{param}.name is required.", param=f"{param}.name")
    if custom:
        arguments = orjson.dumps({CUSTOM_INPUT: str(item.get("input") or "")}).decode()
    else:
        arguments = item.get("arguments")
        if not isinstance(arguments, str):
            raise InvalidRequest(f"{param}.arguments must be a string (JSON).", param=f"{param}.arguments")
    call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant":  # the answer's text and its calls: one chat message
        last.setdefault("tool_calls", []).append(call)
        if last.get("content") == "":
            last["content"] = None
        return
    messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _output_text(output: Any, param: str) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        texts = []
        for part in output:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif isinstance(part, dict) and part.get("type") in ("input_image", "input_file"):
                texts.append(f"[{part['type'][6:]} omitted: tool results carry text only]")
        return "".join(texts)
    raise InvalidRequest(f"{param} must be a string or a list of content parts.", param=param)


def _tools(tools_in: list[tuple[str, int, Any]]) -> tuple[list[dict[str, Any]], set[str]]:
    functions: list[dict[str, Any]] = []
    custom: set[str] = set()
    pending = list(tools_in)
    while pending:
        where, index, tool = pending.pop(0)
        param = f"{where}[{index}]"
        if not isinstance(tool, dict):
            raise InvalidRequest(f"{param} must be an object with a 'type'.", param=param)
        kind = _name(tool.get("type"))
        if kind == "namespace":
            members = tool.get("tools")
            if not isinstance(members, list):
                raise InvalidRequest(f"{param}.tools must be a list.", param=f"{param}.tools")
            pending[:0] = [(f"{param}.tools", position, member) for position, member in enumerate(members)]
            continue
        if kind in BUILT_IN_TOOLS:
            raise InvalidRequest(
                f"{param}: the built-in tool '{kind}' is not supported by this gateway (it runs inside OpenAI's "
                "platform); only function and custom tools are. For Codex CLI, set web_search = \"disabled\" "
                "in config.toml.", param=f"{param}.type")
        name = tool.get("name")
        if kind not in ("function", "custom"):
            raise InvalidRequest(f"{param}.type '{kind}' is not supported (function, custom, namespace).",
                                 param=f"{param}.type")
        if not isinstance(name, str) or not name:
            raise InvalidRequest(f"{param}.name is required.", param=f"{param}.name")
        function: dict[str, Any] = {"name": name}
        if isinstance(tool.get("description"), str) and tool["description"]:
            function["description"] = tool["description"]
        if kind == "custom":
            custom.add(name)
            function["parameters"] = {
                "type": "object", "properties": {CUSTOM_INPUT: {"type": "string", "description": _grammar_hint(tool)}},
                "required": [CUSTOM_INPUT], "additionalProperties": False,
            }
        else:
            parameters = tool.get("parameters")
            function["parameters"] = parameters if isinstance(parameters, dict) else {"type": "object",
                                                                                       "properties": {}}
            if isinstance(tool.get("strict"), bool):
                function["strict"] = tool["strict"]
        functions.append({"type": "function", "function": function})
    return functions, custom


def _grammar_hint(tool: dict[str, Any]) -> str:
    fmt = tool.get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "grammar":
        return f"The tool's raw input (a {fmt.get('syntax', 'grammar')} grammar: {fmt.get('definition', '')})"
    return "The tool's raw input, free-form text"


def _tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict):
        kind = _name(choice.get("type"))
        if kind in ("function", "custom") and isinstance(choice.get("name"), str) and choice["name"]:
            return {"type": "function", "function": {"name": choice["name"]}}
        if kind == "allowed_tools" and choice.get("mode") in ("auto", "required"):
            return choice["mode"]  # chat cannot narrow the tools per call: the model sees them all
        if kind in BUILT_IN_TOOLS:
            raise InvalidRequest(f"'tool_choice' names the built-in tool '{kind}', which this gateway does not "
                                 "support.", param="tool_choice")
    raise InvalidRequest("'tool_choice' must be auto, none, required, or {\"type\": \"function\", \"name\": ...}.",
                         param="tool_choice")


def _reasoning_effort(reasoning: Any) -> str | None:
    if reasoning is None:
        return None
    if not isinstance(reasoning, dict):
        raise InvalidRequest("'reasoning' must be an object.", param="reasoning")
    effort = reasoning.get("effort")
    if effort is None:
        return None
    if effort not in ("none", "minimal", "low", "medium", "high", "xhigh"):
        raise InvalidRequest("'reasoning.effort' must be one of none, minimal, low, medium, high, xhigh.",
                             param="reasoning.effort")
    return effort


def _response_format(text: Any) -> dict[str, Any] | None:
    if text is None:
        return None
    if not isinstance(text, dict):
        raise InvalidRequest("'text' must be an object.", param="text")
    fmt = text.get("format")
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        name, schema = fmt.get("name"), fmt.get("schema")
        if not isinstance(name, str) or not name:
            raise InvalidRequest("'text.format.name' is required for json_schema.", param="text.format.name")
        if not isinstance(schema, dict):
            raise InvalidRequest("'text.format.schema' must be a JSON schema object.", param="text.format.schema")
        spec: dict[str, Any] = {"name": name, "schema": schema}
        if isinstance(fmt.get("strict"), bool):
            spec["strict"] = fmt["strict"]
        if isinstance(fmt.get("description"), str):
            spec["description"] = fmt["description"]
        return {"type": "json_schema", "json_schema": spec}
    raise InvalidRequest("'text.format.type' must be text, json_object or json_schema.", param="text.format.type")
