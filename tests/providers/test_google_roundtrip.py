"""Property: OpenAI → Gemini → OpenAI keeps every message, tool call id and argument.

Gemini has one `systemInstruction` and merges consecutive turns of one role, so both sides are
compared as the flat sequence of what was said (system texts apart). The way back from Gemini reuses
the production id scheme (`ids.with_signature`), so thought signatures must survive too.
"""

from __future__ import annotations

import base64
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from providers.google.ids import split_tool_call_id, tool_call_id, with_signature
from providers.google.request import to_gemini_request
from providers.google.response import message_parts

text = st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s)
name = st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True)
json_scalar = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20) | st.floats(
    allow_nan=False, allow_infinity=False, width=32)
json_value = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=8), inner, max_size=3), max_leaves=8)
arguments = st.dictionaries(st.text(max_size=10), json_value, max_size=4)
signature = st.binary(min_size=1, max_size=64).map(lambda raw: base64.b64encode(raw).decode())
foreign_id = st.from_regex(r"(call_|toolu_|fc-)?[A-Za-z0-9.:]{1,30}", fullmatch=True)
our_id = st.builds(tool_call_id, st.none() | st.from_regex(r"[A-Za-z0-9-]{1,20}", fullmatch=True),
                   st.none() | signature)
image = st.binary(min_size=1, max_size=16).map(lambda raw: f"data:image/png;base64,{base64.b64encode(raw).decode()}")


@st.composite
def conversations(draw) -> list[dict]:
    messages: list[dict] = []
    used: set[str] = set()
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["system", "user", "user_parts", "assistant", "tool_round"]))
        if kind == "system":
            messages.append({"role": draw(st.sampled_from(["system", "developer"])), "content": draw(text)})
        elif kind == "user":
            messages.append({"role": "user", "content": draw(text)})
        elif kind == "user_parts":
            parts = draw(st.lists(st.one_of(
                text.map(lambda t: {"type": "text", "text": t}),
                image.map(lambda url: {"type": "image_url", "image_url": {"url": url}}),
            ), min_size=1, max_size=3))
            messages.append({"role": "user", "content": parts})
        elif kind == "assistant":
            messages.append({"role": "assistant", "content": draw(text)})
        else:
            calls = []
            for _ in range(draw(st.integers(1, 3))):
                # Distinct calls have distinct ids once the signature is set aside (what Gemini sees).
                call_id = draw((our_id | foreign_id).filter(lambda i: split_tool_call_id(i)[0] not in used))
                used.add(split_tool_call_id(call_id)[0])
                calls.append({"id": call_id, "type": "function", "function": {
                    "name": draw(name), "arguments": json.dumps(draw(arguments))}})
            messages.append({"role": "assistant", "content": draw(st.none() | text), "tool_calls": calls})
            for call in calls:
                result = draw(text | arguments.map(json.dumps))
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
    return messages


def tool_result(content: str) -> dict:
    try:
        value = json.loads(content)
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"content": content}


def said_in_openai(messages: list[dict]) -> tuple[list[str], list[tuple]]:
    system, items, names = [], [], {}
    for message in messages:
        role, content = message["role"], message.get("content")
        if role in ("system", "developer"):
            system.append(content)
        elif role == "user":
            for part in [{"type": "text", "text": content}] if isinstance(content, str) else content:
                items.append(("text", "user", part["text"]) if part["type"] == "text"
                             else ("media", part["image_url"]["url"]))
        elif role == "assistant":
            if content:
                items.append(("text", "model", content))
            for call in message.get("tool_calls") or ():
                names[call["id"]] = call["function"]["name"]
                items.append(("call", call["id"], call["function"]["name"], json.loads(call["function"]["arguments"])))
        elif role == "tool":
            items.append(("result", message["tool_call_id"], names[message["tool_call_id"]],
                          tool_result(content)))
    return system, items


def said_in_gemini(request: dict) -> tuple[list[str], list[tuple]]:
    system = [part["text"] for part in request.get("systemInstruction", {}).get("parts", [])]
    items = []
    for content in request["contents"]:
        for part in content["parts"]:
            if "text" in part:
                items.append(("text", content["role"], part["text"]))
            elif "inlineData" in part:
                items.append(("media", f"data:{part['inlineData']['mimeType']};base64,{part['inlineData']['data']}"))
            elif "functionCall" in part:
                call = part["functionCall"]
                items.append(("call", with_signature(call["id"], part.get("thoughtSignature")), call["name"],
                              call["args"]))
            elif "functionResponse" in part:
                response = part["functionResponse"]
                items.append(("result", response["id"], response["name"], response["response"]))
    # A result names the call it answers by its base id: map it back to the full id the client used.
    full = {split_tool_call_id(item[1])[0]: item[1] for item in items if item[0] == "call"}
    items = [("result", full[item[1]], *item[2:]) if item[0] == "result" else item for item in items]
    return system, items


@settings(max_examples=300, deadline=None)
@given(conversations())
def test_openai_to_gemini_and_back_keeps_every_message(messages):
    request = to_gemini_request({"model": "m", "messages": messages})
    assert said_in_gemini(request) == said_in_openai(messages)
    roles = [content["role"] for content in request["contents"]]
    assert all(a != b for a, b in zip(roles, roles[1:], strict=False)), "turns must alternate"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(name, arguments, st.none() | signature, st.none() | st.from_regex(
    r"[A-Za-z0-9-]{1,20}", fullmatch=True)), min_size=1, max_size=4))
def test_gemini_function_calls_survive_a_trip_through_an_openai_client(calls):
    parts = []
    for fn, args, sig, upstream_id in calls:
        part = {"functionCall": {"name": fn, "args": args, **({"id": upstream_id} if upstream_id else {})}}
        parts.append({**part, **({"thoughtSignature": sig} if sig else {})})
    _, tool_calls = message_parts(parts)
    echoed = to_gemini_request({"model": "m", "messages": [
        {"role": "user", "content": "go"}, {"role": "assistant", "content": None, "tool_calls": tool_calls}]})
    back = echoed["contents"][1]["parts"]
    for original, sent in zip(parts, back, strict=True):
        assert sent["functionCall"]["name"] == original["functionCall"]["name"]
        assert sent["functionCall"]["args"] == original["functionCall"]["args"]
        assert sent.get("thoughtSignature") == original.get("thoughtSignature")
        if "id" in original["functionCall"]:
            assert sent["functionCall"]["id"] == original["functionCall"]["id"]
