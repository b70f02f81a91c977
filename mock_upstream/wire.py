"""OpenAI chat-completions payloads, shaped (key order included) like the real samples in
`shared/fixtures/wire/openai/`. Pure functions: no I/O, no clock, no counters.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import struct
from dataclasses import dataclass
from typing import Any

import orjson

SYSTEM_FINGERPRINT = "fp_mock"
MOCK_MODELS = ("mock-gpt", "mock-gpt-mini", "mock-reasoner")
MODEL_CREATED = 1700000000
OBFUSCATION = "mock"  # real chunks carry random padding here; a fixed value keeps output deterministic

_TOKEN_RE = re.compile(r"\s*\S+|\s+$")


def text_of(content: Any) -> str:
    """Text of a message `content`: a string, or the text parts of a list joined with spaces."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def count_words(text: str) -> int:
    return len(text.split())


def prompt_tokens(messages: list[Any]) -> int:
    """Deterministic stand-in for a tokenizer: whitespace-separated words of all message contents."""
    return sum(count_words(text_of(m.get("content"))) for m in messages if isinstance(m, dict))


@dataclass(frozen=True, slots=True)
class Reply:
    """What the assistant answers: text, or a call of `tool_name` with JSON `arguments`."""

    text: str | None = None
    tool_name: str | None = None
    arguments: str | None = None

    @property
    def completion_tokens(self) -> int:
        if self.text is not None:
            return count_words(self.text)
        return count_words(f"{self.tool_name} {self.arguments}")


def sample_value(schema: Any, text: str) -> Any:
    """A deterministic value that satisfies a simple JSON Schema; strings become `text`."""
    if not isinstance(schema, dict):
        return text
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        for key in ("anyOf", "oneOf", "allOf"):
            if schema.get(key):
                return sample_value(schema[key][0], text)
    if kind == "object" or (kind is None and "properties" in schema):
        return sample_object(schema, text)
    return {"integer": 1, "number": 1, "boolean": True, "array": [], "null": None}.get(kind, text)


def sample_object(schema: Any, text: str) -> dict[str, Any]:
    """One value per required property (all properties when `required` is absent)."""
    if not isinstance(schema, dict):
        return {}
    props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    required = schema.get("required")
    names = required if isinstance(required, list) else list(props)
    return {name: sample_value(props.get(name), text) for name in names}


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def _chosen_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    tools = body.get("tools")
    functions = [
        t["function"]
        for t in (tools if isinstance(tools, list) else ())
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    ]
    choice = body.get("tool_choice")
    if not functions or choice == "none":
        return None
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        wanted = choice["function"].get("name")
        return next((f for f in functions if f.get("name") == wanted), functions[0])
    return functions[0]


def decide_reply(body: dict[str, Any]) -> Reply:
    """The deterministic answer to a chat request (see the package docstring for the rules)."""
    messages = body["messages"]
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    if last.get("role") == "tool":
        text = f"mock reply to tool result: {text_of(last.get('content'))}"
    else:
        tool = _chosen_tool(body)
        if tool is not None:
            arguments = orjson.dumps(sample_object(tool.get("parameters"), "test")).decode()
            return Reply(tool_name=str(tool.get("name", "tool")), arguments=arguments)
        text = f"mock reply to: {_last_user_text(messages)}"
    fmt = body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_object":
        text = orjson.dumps({"reply": text}).decode()
    elif kind == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        value = sample_object(schema, text) if isinstance(schema, dict) and schema.get("properties") else None
        text = orjson.dumps(value or {"reply": text}).decode()
    return Reply(text=text)


def usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def completion(cid: str, created: int, model: str, reply: Reply, call_ids: list[str], prompt: int) -> dict[str, Any]:
    """A non-streaming `chat.completion`, one choice per entry of `call_ids` (i.e. `n`)."""
    choices = []
    for index, call_id in enumerate(call_ids):
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.text,
            "refusal": None,
            "annotations": [],
        }
        if reply.text is None:
            message["tool_calls"] = [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": reply.tool_name, "arguments": reply.arguments},
                }
            ]
        finish = "stop" if reply.text is not None else "tool_calls"
        choices.append({"index": index, "message": message, "logprobs": None, "finish_reason": finish})
    return {
        "id": cid,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": usage(prompt, reply.completion_tokens * len(call_ids)),
        "service_tier": "default",
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }


def split_pieces(text: str, count: int) -> list[str]:
    """Split `text` into `count` pieces along word boundaries when it has enough words, else by
    characters; fewer pieces only when the text is shorter than `count` characters."""
    count = max(count, 1)
    tokens = _TOKEN_RE.findall(text)
    if len(tokens) < count:
        tokens = list(text)
    if len(tokens) <= count:
        return tokens or [""]
    size = len(tokens)
    return ["".join(tokens[size * i // count : size * (i + 1) // count]) for i in range(count)]


@dataclass(slots=True)
class StreamEvents:
    """SSE `data:` payloads of one streamed reply, grouped so the server can pace and cut them.

    `first`, each `pieces[k]` and `finish` hold one event per choice; `tail` is the usage chunk
    (when asked for) and `[DONE]`.
    """

    first: list[bytes]
    pieces: list[list[bytes]]
    finish: list[bytes]
    tail: list[bytes]


def sse(payload: Any) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


SSE_DONE = b"data: [DONE]\n\n"


def stream_events(
    cid: str,
    created: int,
    model: str,
    reply: Reply,
    call_ids: list[str],
    prompt: int,
    body: dict[str, Any],
    chunks: int,
) -> StreamEvents:
    """The `chat.completion.chunk` sequence OpenAI would send for `reply`."""
    options = body.get("stream_options") if isinstance(body.get("stream_options"), dict) else {}
    include_usage = options.get("include_usage") is True
    obfuscate = options.get("include_obfuscation", True) is not False

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
        payload: dict[str, Any] = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            payload["usage"] = None
        if obfuscate:
            payload["obfuscation"] = OBFUSCATION
        return sse(payload)

    n = len(call_ids)
    if reply.text is not None:
        first = [chunk(i, {"role": "assistant", "content": "", "refusal": None}) for i in range(n)]
        pieces = [[chunk(i, {"content": p}) for i in range(n)] for p in split_pieces(reply.text, chunks)]
        finish_reason = "stop"
    else:
        first = [
            chunk(
                i,
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": call_ids[i],
                            "type": "function",
                            "function": {"name": reply.tool_name, "arguments": ""},
                        }
                    ],
                    "refusal": None,
                },
            )
            for i in range(n)
        ]
        pieces = [
            [chunk(i, {"tool_calls": [{"index": 0, "function": {"arguments": p}}]}) for i in range(n)]
            for p in split_pieces(reply.arguments or "", chunks)
        ]
        finish_reason = "tool_calls"
    finish = [chunk(i, {}, finish_reason) for i in range(n)]
    tail = []
    if include_usage:
        final: dict[str, Any] = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": [],
            "usage": usage(prompt, reply.completion_tokens * n),
        }
        if obfuscate:
            final["obfuscation"] = OBFUSCATION
        tail.append(sse(final))
    tail.append(SSE_DONE)
    return StreamEvents(first, pieces, finish, tail)


def error(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def status_error(status: int, model: str) -> dict[str, Any]:
    """The body OpenAI sends with `status` (wording from the recorded samples)."""
    if status == 401:
        return error(
            "Incorrect API key provided: mock. (mock upstream)",
            "invalid_request_error",
            None,
            "invalid_api_key",
        )
    if status == 404:
        return error(
            f"The model `{model}` does not exist or you do not have access to it.",
            "invalid_request_error",
            None,
            "model_not_found",
        )
    if status == 429:
        return error(
            f"Rate limit reached for {model} (mock upstream) on requests per min (RPM): Limit 1, Used 1, "
            "Requested 1. Please try again in 1s.",
            "requests",
            None,
            "rate_limit_exceeded",
        )
    if status >= 500:
        return error(
            "The server had an error processing your request. Sorry about that! (mock upstream)",
            "server_error",
        )
    return error(f"Mock upstream rejected the request with status {status}.", "invalid_request_error")


def model_object(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": MODEL_CREATED, "owned_by": "mock-upstream"}


def model_list(model_ids: list[str]) -> dict[str, Any]:
    return {"object": "list", "data": [model_object(m) for m in model_ids]}


DEFAULT_EMBEDDING_DIMENSIONS = 8


def embedding_vector(item: Any, dimensions: int) -> list[float]:
    """A deterministic unit vector for one input (a string or a list of token ids)."""
    seed = hashlib.sha256(orjson.dumps(item)).digest()
    raw = [(seed[i % len(seed)] - 127.5) / 127.5 + i / 1000 for i in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [round(v / norm, 6) for v in raw]


def embeddings(body: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's embeddings list for a request; raises ValueError for an input it would refuse."""
    value = body.get("input")
    if isinstance(value, str) or (isinstance(value, list) and value and all(isinstance(v, int) for v in value)):
        items: list[Any] = [value]
    elif isinstance(value, list) and value:
        items = value
    else:
        raise ValueError("'input' must be a string, a list of strings or token arrays")
    dimensions = body.get("dimensions") if isinstance(body.get("dimensions"), int) else DEFAULT_EMBEDDING_DIMENSIONS
    data = []
    tokens = 0
    for index, item in enumerate(items):
        vector = embedding_vector(item, dimensions)
        tokens += count_words(item) if isinstance(item, str) else len(item)
        encoded: Any = vector
        if body.get("encoding_format") == "base64":
            encoded = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    return {"object": "list", "data": data, "model": body["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
