#!/usr/bin/env python3
"""Recording loopback server for coding-agent CLIs (Claude Code, Codex CLI).

Binds to 127.0.0.1 only, logs every request (method, path+query, headers in wire order,
raw body) and the response it sent as JSON lines, and answers plausibly enough that the
agent runs one full tool loop:

  turn 1: the agent's main request (one that offers tools and mentions hello.txt) -> a tool call
          (Claude Code: ``Read`` of ``<cwd>/hello.txt``; ``Bash`` when the prompt says
           "bash"/"run", running a `backticked` command from the prompt or ``cat hello.txt``;
           Codex: its shell function (``exec_command``/``shell_command``/``shell``) running
           ``cat hello.txt``, or in Codex "code mode" a ``custom_tool_call`` of ``exec`` with
           JavaScript that calls ``tools.exec_command``)
  turn 2: a request that carries the tool result -> a final text answer quoting it

Side requests (title generation, quota probes, ...) get a short text answer.

Endpoints:
  Anthropic  POST /v1/messages (SSE or JSON), POST /v1/messages/count_tokens, GET /v1/models
  OpenAI     POST /v1/responses (SSE typed events or JSON), POST /v1/chat/completions
             (SSE chunks or JSON), GET /v1/models
             GET /v1/responses with Upgrade: websocket (Codex's Responses-over-WebSocket)
Anything else is logged and answered 404 with a JSON error.

Usage:
  python tests/agents/recorder.py --port 8765 --log /tmp/rec/requests.jsonl [--no-websocket]
  python tests/agents/recorder.py --log /tmp/rec/requests.jsonl --export tests/fixtures/agents \\
      --name claude_code_2.1.332 --first 1 --scenario "..."   # write fixture files
Stdlib only (Python 3.11+).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import re
import struct
import sys
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

_LOCK = threading.Lock()
_SEQ = 0
LOG_PATH: str | None = None
WEBSOCKETS = True  # --no-websocket: answer the upgrade 404 so Codex falls back to HTTP+SSE

# ids the pinned agents were seen to send (Claude Code 2.1.332 aliases opus/sonnet/haiku,
# Codex 0.171.0 default) plus a few older ones
MODELS_ANTHROPIC = [
    "claude-opus-5-5",
    "claude-sonnet-5-5",
    "claude-haiku-5-5",
    "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5-20251001",
]
MODELS_OPENAI = ["gpt-6.2-sol", "gpt-5-codex", "gpt-5", "gpt-4.1-mini"]


# --------------------------------------------------------------------------- helpers


def _next_seq() -> int:
    global _SEQ
    with _LOCK:
        _SEQ += 1
        return _SEQ


def _log(record: dict) -> None:
    line = json.dumps(record, ensure_ascii=False)
    with _LOCK:
        if LOG_PATH:
            with open(LOG_PATH, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
    req = record.get("request", {})
    resp = record.get("response", {})
    print(
        f"[rec #{record['seq']}] {req.get('method')} {req.get('path')} -> {resp.get('status')}"
        f" ({resp.get('note', '')})",
        file=sys.stderr,
        flush=True,
    )


def _ts(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def _decode_body(raw: bytes, encoding: str | None) -> tuple[bytes, str | None]:
    """Return (decoded_bytes, error) for a Content-Encoding'd request body."""
    enc = (encoding or "").strip().lower()
    try:
        if enc in ("", "identity"):
            return raw, None
        if enc == "gzip":
            return gzip.decompress(raw), None
        if enc == "deflate":
            return zlib.decompress(raw), None
        if enc == "zstd":
            try:
                import zstandard  # type: ignore

                return zstandard.ZstdDecompressor().decompressobj().decompress(raw), None
            except ImportError:
                return raw, "zstd body (zstandard module not installed); kept raw"
        return raw, f"unknown content-encoding {enc!r}; kept raw"
    except Exception as exc:  # pragma: no cover - diagnostic only
        return raw, f"decode failed: {exc}"


def _text_of(content) -> str:
    """Flatten Anthropic/OpenAI content (str | list of blocks) to text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, dict):
                if "text" in block and isinstance(block["text"], str):
                    parts.append(block["text"])
                elif "content" in block:
                    parts.append(_text_of(block["content"]))
                elif "output" in block:
                    parts.append(_text_of(block["output"]))
            elif isinstance(block, str):
                parts.append(block)
        return "\n".join(parts)
    if isinstance(content, dict):
        return _text_of([content])
    return str(content)


def _sse(event: str | None, data: dict | str) -> str:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    if event is None:
        return f"data: {payload}\n\n"
    return f"event: {event}\ndata: {payload}\n\n"


def _final_answer(tool_output: str) -> str:
    # Claude Code's Read tool returns numbered lines ("1\ttext" / "     1\u2192text");
    # strip the gutter.
    out = re.sub(r"(?m)^\s*\d+(?:\u2192|\t)", "", tool_output).strip()
    if not out:
        out = "(empty)"
    return f"hello.txt says: {out}"


def _find_cwd(text: str) -> str | None:
    for pat in (
        r"Primary working directory:\s*(\S+)",
        r"Working directory:\s*(\S+)",
        r"<cwd>\s*(\S+?)\s*</cwd>",
        r"\"cwd\"\s*:\s*\"([^\"]+)\"",
    ):
        m = re.search(pat, text)
        if m:
            return m.group(1).rstrip(".,")
    return None


# ----------------------------------------------------------------- Anthropic /v1/messages


def _anthropic_plan(body: dict) -> tuple[str, dict]:
    """Decide what to answer: ("tool_use", {...}) or ("text", {"text": ...})."""
    messages = body.get("messages") or []
    tools = body.get("tools") or []
    tool_names = {t.get("name") for t in tools if isinstance(t, dict)}

    # Claude Code >= 2.1.3xx puts role "system" turns inside `messages` (e.g. the environment
    # block after the first user turn), so look at the last non-system message.
    convo = [m for m in messages if isinstance(m, dict) and m.get("role") in ("user", "assistant")]
    last = convo[-1] if convo else {}

    # Does the last user message carry a tool_result?  -> final text.
    if last.get("role") == "user" and isinstance(last.get("content"), list):
        results = [b for b in last["content"] if isinstance(b, dict) and b.get("type") == "tool_result"]
        if results:
            return "text", {"text": _final_answer(_text_of(results[-1].get("content")))}

    # Main agent turn: tools offered and a user prompt mentioning hello.txt.
    prompt = _text_of(last.get("content")) if last.get("role") == "user" else ""
    if "hello.txt" in prompt and ("Read" in tool_names or "Bash" in tool_names):
        system_text = _text_of(body.get("system"))
        all_text = system_text + "\n" + "\n".join(_text_of(m.get("content")) for m in messages)
        cwd = _find_cwd(all_text)
        wants_bash = "bash" in prompt.lower() or "run " in prompt.lower()
        if wants_bash and "Bash" in tool_names:
            # a `backticked` command in the prompt is run instead of the default
            m = re.search(r"`([^`]+)`", prompt)
            return "tool_use", {
                "name": "Bash",
                "input": {"command": m.group(1) if m else "cat hello.txt", "description": "Show hello.txt"},
            }
        if "Read" in tool_names and cwd:
            return "tool_use", {"name": "Read", "input": {"file_path": f"{cwd.rstrip('/')}/hello.txt"}}
        if "Bash" in tool_names:
            return "tool_use", {
                "name": "Bash",
                "input": {"command": "cat hello.txt", "description": "Show hello.txt"},
            }
        return "tool_use", {"name": "Read", "input": {"file_path": "hello.txt"}}

    # Side requests (titles, topic detection, quota probes ...).
    sys_text = _text_of(body.get("system")).lower()
    if "title" in sys_text and "json" in sys_text:
        return "text", {"text": '{"title": "Read hello.txt"}'}
    if "isnewtopic" in sys_text:
        return "text", {"text": '{"isNewTopic": true, "title": "Read hello.txt"}'}
    return "text", {"text": "OK"}


def anthropic_messages(body: dict) -> tuple[int, dict, bytes, str]:
    kind, plan = _anthropic_plan(body)
    model = body.get("model") or "claude-sonnet-4-5-20250929"
    msg_id = "msg_rec_" + uuid.uuid4().hex[:24]
    in_tokens = max(1, len(json.dumps(body)) // 4)
    usage_start = {
        "input_tokens": in_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 1,
        "service_tier": "standard",
    }
    if kind == "tool_use":
        block = {"type": "tool_use", "id": "toolu_rec_" + uuid.uuid4().hex[:20], "name": plan["name"], "input": {}}
        stop_reason = "tool_use"
        out_tokens = 40
        partial = json.dumps(plan["input"])
    else:
        block = {"type": "text", "text": ""}
        stop_reason = "end_turn"
        out_tokens = max(1, len(plan["text"]) // 4)
        partial = plan["text"]

    note = f"{kind} {plan.get('name', '')}".strip()
    if not body.get("stream"):
        final_block = dict(block)
        if kind == "tool_use":
            final_block["input"] = plan["input"]
        else:
            final_block["text"] = plan["text"]
        payload = {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [final_block],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {**usage_start, "output_tokens": out_tokens},
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(payload).encode(), "json " + note

    ev = []
    ev.append(
        _sse(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": msg_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": usage_start,
                },
            },
        )
    )
    ev.append(_sse("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}))
    ev.append(_sse("ping", {"type": "ping"}))
    # split into two deltas to exercise accumulation
    half = len(partial) // 2
    for chunk in (partial[:half], partial[half:]):
        if kind == "tool_use":
            delta = {"type": "input_json_delta", "partial_json": chunk}
        else:
            delta = {"type": "text_delta", "text": chunk}
        ev.append(_sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}))
    ev.append(_sse("content_block_stop", {"type": "content_block_stop", "index": 0}))
    ev.append(
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {
                    "input_tokens": in_tokens,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "output_tokens": out_tokens,
                },
            },
        )
    )
    ev.append(_sse("message_stop", {"type": "message_stop"}))
    headers = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
    return 200, headers, "".join(ev).encode(), "sse " + note


def anthropic_count_tokens(body: dict):
    n = max(1, len(json.dumps(body)) // 4)
    return 200, {"Content-Type": "application/json"}, json.dumps({"input_tokens": n}).encode(), "count_tokens"


def anthropic_models():
    data = [
        {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"} for m in MODELS_ANTHROPIC
    ]
    payload = {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}
    return payload


# ------------------------------------------------------------------- OpenAI Responses


def _flatten_tools(tools: list) -> list:
    """Tools incl. those nested in {"type": "namespace", "tools": [...]} entries."""
    flat = []
    for t in tools or []:
        if not isinstance(t, dict):
            continue
        flat.append(t)
        if t.get("type") == "namespace":
            flat.extend(_flatten_tools(t.get("tools")))
    return flat


def _codex_tools(body: dict) -> tuple[list, list]:
    """(top-level tools, tools announced via `additional_tools` input items)."""
    extra = []
    items = body.get("input")
    if isinstance(items, list):
        for i in items:
            if isinstance(i, dict) and i.get("type") == "additional_tools":
                extra.extend(_flatten_tools(i.get("tools")))
    return _flatten_tools(body.get("tools")), extra


# JavaScript for Codex "code mode" (custom tool `exec` running JS that calls nested tools).
CODE_MODE_JS = (
    'const r = await tools.exec_command({cmd: "cat hello.txt"});\n'
    'text(typeof r === "string" ? r : JSON.stringify(r));\n'
)


def _shell_call_for(tools: list) -> tuple[str, str, dict] | None:
    """Pick the agent's shell tool -> (item_type, name, arguments)."""
    by_name = {}
    for t in tools:
        if not isinstance(t, dict):
            continue
        if t.get("type") == "local_shell":
            by_name["local_shell"] = t
        name = t.get("name") or (t.get("function") or {}).get("name")
        if name:
            by_name[name] = t
    for name in ("shell_command", "exec_command", "shell", "local_shell", "bash"):
        t = by_name.get(name)
        if not t:
            continue
        params = t.get("parameters") or (t.get("function") or {}).get("parameters") or {}
        props = (params.get("properties") or {}) if isinstance(params, dict) else {}
        if name == "local_shell":
            return "local_shell_call", name, {"command": ["bash", "-lc", "cat hello.txt"]}
        if "cmd" in props:
            return "function_call", name, {"cmd": "cat hello.txt"}
        cmd_prop = props.get("command", {})
        if cmd_prop.get("type") == "array":
            return "function_call", name, {"command": ["bash", "-lc", "cat hello.txt"]}
        return "function_call", name, {"command": "cat hello.txt"}
    return None


def _read_call_for(body: dict) -> tuple[str, str, dict] | None:
    """Claude Code's own tools offered as chat functions (a gateway translated them): `Read` of
    <cwd>/hello.txt, the cwd taken from its environment block."""
    names = {(t.get("function") or {}).get("name") for t in body.get("tools") or [] if isinstance(t, dict)}
    cwd = _find_cwd("\n".join(_text_of(m.get("content")) for m in body.get("messages") or [] if isinstance(m, dict)))
    if "Read" in names and cwd:
        return "function_call", "Read", {"file_path": f"{cwd.rstrip('/')}/hello.txt"}
    return None


def _responses_plan(body: dict):
    items = body.get("input")
    if isinstance(items, str):
        items = [{"type": "message", "role": "user", "content": items}]
    items = items or []
    outputs = [
        i
        for i in items
        if isinstance(i, dict)
        and i.get("type") in ("function_call_output", "custom_tool_call_output", "local_shell_call_output")
    ]
    if outputs:
        out = outputs[-1].get("output")
        if isinstance(out, dict):
            out = out.get("content") or out.get("output") or json.dumps(out)
        out_text = _text_of(out) if not isinstance(out, str) else out
        # Codex wraps shell output: "...Output:\n<text>" (exec_command), and in code mode
        # "Script completed\n...Output:\n" followed by the JSON the script printed.
        m = re.search(r"Output:\n(.*)", out_text, re.S)
        if m:
            out_text = m.group(1)
        try:
            parsed = json.loads(out_text.strip())
            if isinstance(parsed, dict) and "output" in parsed:
                out_text = str(parsed["output"])
        except (ValueError, TypeError):
            pass
        return "text", {"text": _final_answer(out_text)}
    user_text = "\n".join(_text_of(i.get("content")) for i in items if isinstance(i, dict) and i.get("role") == "user")
    if "hello.txt" in user_text:
        top, extra = _codex_tools(body)
        call = _shell_call_for(top)
        if call:
            return "call", {"item_type": call[0], "name": call[1], "arguments": call[2]}
        # Codex code mode: no top-level tools; a freeform custom tool `exec` (JS) is announced
        # in an `additional_tools` input item and the shell is reachable as tools.exec_command.
        if any(t.get("type") == "custom" and t.get("name") == "exec" for t in extra + top):
            return "call", {"item_type": "custom_tool_call", "name": "exec", "input": CODE_MODE_JS}
        call = _shell_call_for(extra)
        if call:
            return "call", {"item_type": call[0], "name": call[1], "arguments": call[2]}
    return "text", {"text": "OK"}


def openai_responses(body: dict):
    kind, plan = _responses_plan(body)
    model = body.get("model") or "gpt-5"
    resp_id = "resp_rec_" + uuid.uuid4().hex[:24]
    created = int(time.time())
    in_tokens = max(1, len(json.dumps(body)) // 4)

    if kind == "call":
        if plan["item_type"] == "custom_tool_call":
            item_final = {
                "type": "custom_tool_call",
                "id": "ctc_rec_" + uuid.uuid4().hex[:16],
                "call_id": "call_rec_" + uuid.uuid4().hex[:16],
                "name": plan["name"],
                "input": plan["input"],
                "status": "completed",
            }
            item_added = dict(item_final, input="", status="in_progress")
        elif plan["item_type"] == "local_shell_call":
            call_id = "call_rec_" + uuid.uuid4().hex[:16]
            item_final = {
                "type": "local_shell_call",
                "id": "lsh_rec_" + uuid.uuid4().hex[:16],
                "call_id": call_id,
                "status": "completed",
                "action": {"type": "exec", "command": plan["arguments"]["command"], "env": {}},
            }
            item_added = dict(item_final, status="in_progress")
        else:
            args = json.dumps(plan["arguments"])
            item_final = {
                "type": "function_call",
                "id": "fc_rec_" + uuid.uuid4().hex[:16],
                "call_id": "call_rec_" + uuid.uuid4().hex[:16],
                "name": plan["name"],
                "arguments": args,
                "status": "completed",
            }
            item_added = dict(item_final, arguments="", status="in_progress")
        out_tokens = 30
        note = f"call {plan['name']}"
    else:
        text = plan["text"]
        item_final = {
            "type": "message",
            "id": "msg_rec_" + uuid.uuid4().hex[:16],
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
        }
        item_added = dict(item_final, status="in_progress", content=[])
        out_tokens = max(1, len(text) // 4)
        note = "text"

    usage = {
        "input_tokens": in_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": out_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": in_tokens + out_tokens,
    }

    def response_obj(status: str, output: list, with_usage: bool) -> dict:
        obj = {
            "id": resp_id,
            "object": "response",
            "created_at": created,
            "status": status,
            "error": None,
            "incomplete_details": None,
            "instructions": None,
            "model": model,
            "output": output,
            "parallel_tool_calls": bool(body.get("parallel_tool_calls", False)),
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": [],
            "store": bool(body.get("store", False)),
            "usage": usage if with_usage else None,
        }
        return obj

    if not body.get("stream"):
        payload = response_obj("completed", [item_final], True)
        return 200, {"Content-Type": "application/json"}, json.dumps(payload).encode(), "json " + note

    seq = 0
    ev = []

    def emit(etype: str, data: dict):
        nonlocal seq
        ev.append(_sse(etype, {"type": etype, "sequence_number": seq, **data}))
        seq += 1

    emit("response.created", {"response": response_obj("in_progress", [], False)})
    emit("response.in_progress", {"response": response_obj("in_progress", [], False)})
    emit("response.output_item.added", {"output_index": 0, "item": item_added})
    if kind == "call" and item_final["type"] == "function_call":
        args = item_final["arguments"]
        half = len(args) // 2
        for chunk in (args[:half], args[half:]):
            emit(
                "response.function_call_arguments.delta",
                {"item_id": item_final["id"], "output_index": 0, "delta": chunk},
            )
        emit(
            "response.function_call_arguments.done",
            {"item_id": item_final["id"], "output_index": 0, "arguments": args},
        )
    elif kind == "call" and item_final["type"] == "custom_tool_call":
        inp = item_final["input"]
        half = len(inp) // 2
        for chunk in (inp[:half], inp[half:]):
            emit(
                "response.custom_tool_call_input.delta",
                {"item_id": item_final["id"], "output_index": 0, "delta": chunk},
            )
        emit(
            "response.custom_tool_call_input.done",
            {"item_id": item_final["id"], "output_index": 0, "input": inp},
        )
    elif kind == "text":
        text = item_final["content"][0]["text"]
        iid = item_final["id"]
        base = {"item_id": iid, "output_index": 0, "content_index": 0}
        emit(
            "response.content_part.added",
            {**base, "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []}},
        )
        half = len(text) // 2
        for chunk in (text[:half], text[half:]):
            emit("response.output_text.delta", {**base, "delta": chunk, "logprobs": []})
        emit("response.output_text.done", {**base, "text": text, "logprobs": []})
        emit("response.content_part.done", {**base, "part": item_final["content"][0]})
    emit("response.output_item.done", {"output_index": 0, "item": item_final})
    emit("response.completed", {"response": response_obj("completed", [item_final], True)})
    headers = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
    return 200, headers, "".join(ev).encode(), "sse " + note


# ------------------------------------------------------------- OpenAI chat completions


def openai_chat(body: dict):
    messages = body.get("messages") or []
    model = body.get("model") or "gpt-4.1-mini"
    cid = "chatcmpl-rec" + uuid.uuid4().hex[:20]
    created = int(time.time())
    tool_call = None
    text = "OK"
    # Claude Code through a gateway puts system turns anywhere (after a tool result too): skip them.
    convo = [m for m in messages if isinstance(m, dict) and m.get("role") not in ("system", "developer")]
    if convo and convo[-1].get("role") == "tool":
        text = _final_answer(_text_of(convo[-1].get("content")))
    elif "hello.txt" in "\n".join(_text_of(m.get("content")) for m in messages if m.get("role") == "user"):
        call = _shell_call_for(body.get("tools") or []) or _read_call_for(body)
        if call and call[0] == "function_call":
            tool_call = {
                "id": "call_rec_" + uuid.uuid4().hex[:16],
                "type": "function",
                "function": {"name": call[1], "arguments": json.dumps(call[2])},
            }
    p_tok = max(1, len(json.dumps(body)) // 4)
    c_tok = 20
    usage = {"prompt_tokens": p_tok, "completion_tokens": c_tok, "total_tokens": p_tok + c_tok}
    finish = "tool_calls" if tool_call else "stop"
    note = ("tool_call " + tool_call["function"]["name"]) if tool_call else "text"
    if not body.get("stream"):
        msg = {"role": "assistant", "content": None if tool_call else text}
        if tool_call:
            msg["tool_calls"] = [tool_call]
        payload = {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "message": msg, "finish_reason": finish, "logprobs": None}],
            "usage": usage,
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(payload).encode(), "json " + note

    def chunk(delta: dict, finish_reason=None, with_usage=False) -> str:
        obj = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
        }
        if with_usage:
            obj["usage"] = usage
        return _sse(None, obj)

    ev = [chunk({"role": "assistant", "content": ""})]
    if tool_call:
        args = tool_call["function"]["arguments"]
        ev.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": tool_call["id"],
                            "type": "function",
                            "function": {"name": tool_call["function"]["name"], "arguments": ""},
                        }
                    ]
                }
            )
        )
        ev.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": args}}]}))
    else:
        half = len(text) // 2
        ev.append(chunk({"content": text[:half]}))
        ev.append(chunk({"content": text[half:]}))
    ev.append(chunk({}, finish))
    if (body.get("stream_options") or {}).get("include_usage"):
        ev.append(
            _sse(
                None,
                {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                },
            )
        )
    ev.append(_sse(None, "[DONE]"))
    headers = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
    return 200, headers, "".join(ev).encode(), "sse " + note


# ----------------------------------------------------------------------------- server


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "agent-recorder/1"

    def log_message(self, fmt, *args):  # silence default access log
        pass

    def _read_body(self) -> bytes:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                size_line = self.rfile.readline().strip()
                size = int(size_line.split(b";")[0] or b"0", 16)
                if size == 0:
                    # trailers
                    while self.rfile.readline().strip():
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # ---------------------------------------------------------------- WebSocket (Codex)
    # Codex's built-in OpenAI provider first tries the Responses API over a WebSocket
    # (GET /v1/responses, Upgrade: websocket, openai-beta: responses_websockets=...), sending
    # {"type": "response.create", ...request body...} text frames and expecting the same
    # typed events as the SSE stream, one JSON text frame each.  No extensions negotiated.

    def _ws_read_message(self) -> tuple[int, bytes] | None:
        payload, opcode = b"", None
        while True:
            hdr = self.rfile.read(2)
            if len(hdr) < 2:
                return None
            fin, op = hdr[0] & 0x80, hdr[0] & 0x0F
            masked, n = hdr[1] & 0x80, hdr[1] & 0x7F
            if n == 126:
                n = struct.unpack(">H", self.rfile.read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self.rfile.read(8))[0]
            mask = self.rfile.read(4) if masked else b"\0\0\0\0"
            data = bytearray(self.rfile.read(n))
            for i in range(len(data)):
                data[i] ^= mask[i % 4]
            if op >= 8:  # control frame, may interleave
                if op == 9:
                    self._ws_send(bytes(data), opcode=10)
                    continue
                if op == 10:
                    continue
                return op, bytes(data)
            if op != 0:
                opcode = op
            payload += bytes(data)
            if fin:
                return opcode or 1, payload

    def _ws_send(self, data: bytes, opcode: int = 1) -> None:
        n = len(data)
        if n < 126:
            hdr = struct.pack(">BB", 0x80 | opcode, n)
        elif n < 65536:
            hdr = struct.pack(">BBH", 0x80 | opcode, 126, n)
        else:
            hdr = struct.pack(">BBQ", 0x80 | opcode, 127, n)
        self.wfile.write(hdr + data)
        self.wfile.flush()

    def _handle_websocket(self, seq: int, started: float, req_rec: dict) -> None:
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(
            hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
        ).decode()
        headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": accept}
        self.send_response(101)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        conn = f"ws{seq}"
        _log(
            {
                "seq": seq,
                "ts": _ts(started),
                "ws_conn": conn,
                "request": req_rec,
                "response": {"status": 101, "headers": [[k, v] for k, v in headers.items()], "note": "ws upgrade"},
            }
        )
        while True:
            msg = self._ws_read_message()
            mseq, mstart = _next_seq(), time.time()
            if msg is None:
                return
            op, data = msg
            if op == 8:
                self._ws_send(data[:2], opcode=8)
                _log(
                    {
                        "seq": mseq,
                        "ts": _ts(mstart),
                        "ws_conn": conn,
                        "request": {
                            "method": "WS",
                            "path": req_rec["path"],
                            "ws_opcode": 8,
                            "body_b64": base64.b64encode(data).decode(),
                        },
                        "response": {"status": None, "note": "ws close"},
                    }
                )
                return
            text = data.decode("utf-8", "replace")
            mrec = {"method": "WS", "path": req_rec["path"], "ws_opcode": op, "body_text": text}
            frames, note = [], "ws message ignored"
            try:
                body = json.loads(text)
                mrec["body_json"] = body
            except ValueError:
                body = None
            if isinstance(body, dict) and body.get("type") == "response.create":
                req = {k: v for k, v in body.items() if k != "type"}
                if req.get("generate") is False:
                    # warm-up: acknowledge without generating output
                    rid = "resp_rec_" + uuid.uuid4().hex[:24]
                    base = {
                        "id": rid,
                        "object": "response",
                        "created_at": int(time.time()),
                        "model": req.get("model"),
                        "output": [],
                        "error": None,
                    }
                    evs = [
                        {
                            "type": "response.created",
                            "sequence_number": 0,
                            "response": dict(base, status="in_progress", usage=None),
                        },
                        {
                            "type": "response.completed",
                            "sequence_number": 1,
                            "response": dict(
                                base,
                                status="completed",
                                usage={
                                    "input_tokens": 0,
                                    "input_tokens_details": {"cached_tokens": 0},
                                    "output_tokens": 0,
                                    "output_tokens_details": {"reasoning_tokens": 0},
                                    "total_tokens": 0,
                                },
                            ),
                        },
                    ]
                    frames = [json.dumps(e, separators=(",", ":")) for e in evs]
                    note = "ws prewarm (generate=false)"
                else:
                    _st, _h, payload, note = openai_responses(dict(req, stream=True))
                    for block in payload.decode().split("\n\n"):
                        for line in block.splitlines():
                            if line.startswith("data: "):
                                frames.append(line[6:])
                    note = "ws " + note
                for f in frames:
                    self._ws_send(f.encode())
            _log(
                {
                    "seq": mseq,
                    "ts": _ts(mstart),
                    "ws_conn": conn,
                    "request": mrec,
                    "response": {"status": None, "ws_frames": frames, "note": note},
                }
            )

    def _handle(self):
        seq = _next_seq()
        started = time.time()
        raw = self._read_body()
        decoded, decode_err = _decode_body(raw, self.headers.get("Content-Encoding"))
        split = urlsplit(self.path)
        req_rec = {
            "method": self.command,
            "path": self.path,
            "path_only": split.path,
            "query": parse_qsl(split.query, keep_blank_values=True),
            "http_version": self.request_version,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body_raw_len": len(raw),
        }
        try:
            req_rec["body_text"] = decoded.decode("utf-8")
        except UnicodeDecodeError:
            req_rec["body_b64"] = base64.b64encode(raw).decode()
        if decode_err:
            req_rec["body_decode_error"] = decode_err
        body = None
        if "body_text" in req_rec and req_rec["body_text"]:
            try:
                body = json.loads(req_rec["body_text"])
                req_rec["body_json"] = body
            except ValueError:
                pass

        if (
            WEBSOCKETS
            and (self.headers.get("Upgrade") or "").lower() == "websocket"
            and split.path.rstrip("/").endswith("/v1/responses")
        ):
            return self._handle_websocket(seq, started, req_rec)

        status, headers, payload, note = self._route(split.path, body or {})
        headers = dict(headers)
        headers.setdefault("request-id", f"req_rec_{seq:04d}")
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
            self.wfile.flush()

        _log(
            {
                "seq": seq,
                "ts": _ts(started),
                "request": req_rec,
                "response": {
                    "status": status,
                    "headers": [[k, v] for k, v in headers.items()] + [["Content-Length", str(len(payload))]],
                    "body_text": payload.decode("utf-8", "replace"),
                    "note": note,
                },
            }
        )

    def _route(self, path: str, body: dict):
        p = path.rstrip("/")
        m = self.command
        if p.endswith("/v1/messages/count_tokens") and m == "POST":
            return anthropic_count_tokens(body)
        if p.endswith("/v1/messages") and m == "POST":
            return anthropic_messages(body)
        if p.endswith("/v1/responses") and m == "POST":
            return openai_responses(body)
        if p.endswith("/v1/chat/completions") and m == "POST":
            return openai_chat(body)
        if p.endswith("/v1/models") and m == "GET":
            # Anthropic clients send anthropic-version; answer in the matching shape.
            if self.headers.get("anthropic-version") or self.headers.get("x-api-key"):
                payload = anthropic_models()
                note = "models anthropic"
            else:
                payload = {
                    "object": "list",
                    "data": [
                        {"id": x, "object": "model", "created": 1700000000, "owned_by": "recorder"}
                        for x in MODELS_OPENAI
                    ],
                }
                note = "models openai"
            return 200, {"Content-Type": "application/json"}, json.dumps(payload).encode(), note
        err = {"type": "error", "error": {"type": "not_found_error", "message": f"recorder: no route {m} {path}"}}
        return 404, {"Content-Type": "application/json"}, json.dumps(err).encode(), "404"

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


def export(log: str, out_dir: str, name: str, first: int, scenario: str) -> int:
    """Split a recorder log into <name>_<n>.request.json / .response.json fixture pairs."""
    import os

    os.makedirs(out_dir, exist_ok=True)
    n = first
    for line in open(log, encoding="utf-8"):
        rec = json.loads(line)
        q, r = rec["request"], rec["response"]
        if q.get("method") == "WS":
            transport = "websocket-message"
        elif r.get("status") == 101:
            transport = "websocket-upgrade"
        else:
            transport = "http"
        req = {
            "scenario": scenario,
            "recorder_seq": rec["seq"],
            "ts": rec["ts"],
            "transport": transport,
            "method": q.get("method"),
            "path": q.get("path"),
            "query": q.get("query", []),
            "headers": q.get("headers", []),
            "body": q.get("body_json"),
            "body_raw": q.get("body_text"),
        }
        if "ws_opcode" in q:
            req["ws_opcode"] = q["ws_opcode"]
        if "body_b64" in q:
            req["body_b64"] = q["body_b64"]
        resp = {"status": r.get("status"), "headers": r.get("headers", []), "note": r.get("note")}
        if "body_text" in r:
            resp["body_raw"] = r["body_text"]
            try:
                resp["body"] = json.loads(r["body_text"])
            except ValueError:
                resp["sse_events"] = [
                    json.loads(ln[6:])
                    for ln in r["body_text"].splitlines()
                    if ln.startswith("data: ") and ln[6:].strip() != "[DONE]"
                ]
        if "ws_frames" in r:
            resp["ws_frames"] = [json.loads(f) for f in r["ws_frames"]]
        for suffix, obj in (("request", req), ("response", resp)):
            with open(os.path.join(out_dir, f"{name}_{n}.{suffix}.json"), "w", encoding="utf-8") as fh:
                json.dump(obj, fh, ensure_ascii=False, indent=1)
                fh.write("\n")
        print(f"{name}_{n}\t{transport}\t{q.get('method')} {q.get('path')}\t{r.get('note')}")
        n += 1
    return n


def main(argv=None) -> int:
    global LOG_PATH, WEBSOCKETS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0, help="0 = pick a free port (printed on stdout)")
    ap.add_argument("--log", required=True, help="JSON-lines file to append exchanges to")
    ap.add_argument("--export", metavar="OUT_DIR", help="don't serve: split --log into fixture files")
    ap.add_argument("--name", help="with --export: file prefix, e.g. claude_code_2.1.332")
    ap.add_argument("--first", type=int, default=1, help="with --export: first <n>")
    ap.add_argument("--scenario", default="", help="with --export: text stored in each request file")
    ap.add_argument("--max-seconds", type=float, default=900, help="stop by itself after this long")
    ap.add_argument("--no-websocket", action="store_true", help="refuse WebSocket upgrades (404)")
    args = ap.parse_args(argv)
    if args.export:
        export(args.log, args.export, args.name, args.first, args.scenario)
        return 0
    LOG_PATH = args.log
    WEBSOCKETS = not args.no_websocket
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    print(f"listening http://127.0.0.1:{srv.server_address[1]}", flush=True)
    timer = threading.Timer(args.max_seconds, srv.shutdown)
    timer.daemon = True
    timer.start()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
