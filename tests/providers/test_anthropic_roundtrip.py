"""Property: any valid OpenAI request → Anthropic (the provider) → OpenAI (the inbound /v1/messages) loses nothing.

Messages, text, images, tool call ids, names and arguments, tool results, tools and the sampling
parameters Anthropic shares all survive; only what Anthropic cannot hold apart changes shape
(several system messages become one text joined by blank lines).
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from providers.anthropic.translate_request import to_anthropic
from proxy.fronts.messages.translate_request import to_openai_request

text = st.text(min_size=1, max_size=30).filter(lambda s: s.strip() == s and s)
ident = st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True)
json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=10) | st.floats(
    allow_nan=False, allow_infinity=False)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=8), inner, max_size=3), max_leaves=10)
arguments = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
image_url = st.one_of(
    st.builds(lambda kind, data: f"data:image/{kind};base64,{data}", st.sampled_from(["png", "jpeg", "webp"]),
              st.from_regex(r"[A-Za-z0-9+/]{4,40}={0,2}", fullmatch=True)),
    st.builds(lambda path: f"https://example.com/{path}.png", ident),
)
user_part = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, text),
    st.builds(lambda u: {"type": "image_url", "image_url": {"url": u}}, image_url),
)
user_message = st.builds(lambda content: {"role": "user", "content": content},
                         text | st.lists(user_part, min_size=1, max_size=4))


@st.composite
def assistant_turn(draw, tool_names: list[str]) -> list[dict]:
    """An assistant message, and when it calls tools, a tool message answering each call."""
    calls = []
    if tool_names and draw(st.booleans()):
        for _ in range(draw(st.integers(1, 3))):
            calls.append({"id": f"call_{draw(ident)}_{len(calls)}", "type": "function", "function": {
                "name": draw(st.sampled_from(tool_names)), "arguments": json.dumps(draw(arguments))}})
    content = draw(text) if not calls or draw(st.booleans()) else None
    message: dict = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = calls
    results = [{"role": "tool", "tool_call_id": call["id"],
                "content": draw(text | st.lists(st.builds(lambda t: {"type": "text", "text": t}, text),
                                                min_size=1, max_size=2))} for call in calls]
    return [message, *results]


@st.composite
def openai_requests(draw) -> dict:
    names = draw(st.lists(ident, max_size=3, unique=True))
    tools = [{"type": "function", "function": {
        "name": name, "description": draw(text),
        "parameters": {"type": "object", "properties": {draw(ident): {"type": "string"}}}}} for name in names]
    messages = [{"role": draw(st.sampled_from(["system", "developer"])), "content": draw(text)}
                for _ in range(draw(st.integers(0, 2)))]
    for _ in range(draw(st.integers(1, 4))):
        messages.append(draw(user_message))
        messages.extend(draw(assistant_turn(names)))
    body: dict = {"model": "auto", "messages": messages, "max_tokens": draw(st.integers(1, 64000))}
    if tools:
        body["tools"] = tools
        body["tool_choice"] = draw(st.sampled_from(
            ["auto", "required", "none", {"type": "function", "function": {"name": names[0]}}]))
    optional = {"temperature": st.floats(0, 1), "top_p": st.floats(0, 1), "user": ident,
                "stop": st.lists(text, min_size=1, max_size=3), "stream": st.just(True)}
    for name, strategy in optional.items():
        if draw(st.booleans()):
            body[name] = draw(strategy)
    return body


def atoms(messages: list[dict]) -> tuple[str, list[tuple]]:
    """System text, then each message as (role, its pieces), pieces compared by value."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] in ("system", "developer"))
    rest = []
    for message in messages:
        content = message.get("content")
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        pieces = [("text", p["text"]) if p["type"] == "text" else ("image", p["image_url"]["url"]) for p in parts]
        if message["role"] == "assistant":
            pieces = [("text", "".join(p[1] for p in pieces))] if pieces else []
            pieces += [("call", c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
                       for c in message.get("tool_calls") or ()]
        elif message["role"] == "tool":
            pieces = [("result", message["tool_call_id"], *(p[1] for p in pieces))]
        if message["role"] not in ("system", "developer"):
            rest.append((message["role"], pieces))
    return system, rest


@settings(max_examples=300, deadline=None)
@given(openai_requests())
def test_openai_to_anthropic_and_back_loses_nothing(body):
    anthropic = to_anthropic(body, "claude-sonnet-4-5").payload
    back = to_openai_request(anthropic)
    assert atoms(back["messages"]) == atoms(body["messages"])
    assert back.get("tools") == body.get("tools")
    for name in ("tool_choice", "max_tokens", "temperature", "top_p", "user", "stop", "stream"):
        assert back.get(name) == body.get(name), name
