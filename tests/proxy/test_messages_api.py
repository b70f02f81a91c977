"""The Anthropic-compatible `/v1/messages`: the official `anthropic` SDK as a client of the gateway.

Behind it the usual pipeline: the OpenAI-speaking mock upstream (`smart-model`, ...), or a loopback
Anthropic server replaying recordings (full circle: Anthropic in, Anthropic out).
"""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import httpx
import pytest

from core.errors import InvalidRequest
from providers.sse import SSEDecoder
from proxy.fronts.messages.stream import MessageStreamBuilder
from proxy.fronts.messages.tokens import estimate_input_tokens
from proxy.fronts.messages.translate_request import to_openai_request
from proxy.fronts.messages.translate_response import to_anthropic_message
from tests.conftest import usage_rows
from tests.providers.anthropic_loopback import ANTHROPIC, AnthropicLoopback, fixture_json

AGENTS = Path(__file__).resolve().parents[1] / "fixtures" / "agents"

WEATHER = {"name": "get_weather", "description": "Weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


@pytest.fixture
def client(gateway):
    with anthropic.Anthropic(base_url=gateway.url, api_key="unused-by-the-gateway", max_retries=0,
                             timeout=20) as client:
        yield client


def events(body: bytes) -> list[tuple[str, dict]]:
    """(event name, data) of an Anthropic SSE body."""
    result = []
    for block in body.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if lines:
            result.append((lines["event"], json.loads(lines["data"])))
    return result


# --- translation (pure) -----------------------------------------------------------------------------


def test_a_claude_code_style_request_becomes_an_openai_request():
    body = {
        "model": "auto:implementation", "max_tokens": 32000, "stream": True, "temperature": 1,
        "metadata": {"user_id": "user_abc"}, "thinking": {"type": "enabled", "budget_tokens": 1024},
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
                   {"type": "text", "text": "Be concise."}],
        "tools": [WEATHER], "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "stop_sequences": ["</done>"],
        "messages": [
            {"role": "user", "content": "Weather in Paris and a picture?"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Use the tool.", "signature": "sig"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": False, "content": [
                    {"type": "text", "text": "sunny"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}}]},
                {"type": "text", "text": "Thanks", "cache_control": {"type": "ephemeral"}}]},
        ],
    }
    assert to_openai_request(body) == {
        "model": "auto:implementation", "max_tokens": 32000, "temperature": 1, "stop": ["</done>"],
        "user": "user_abc", "stream": True, "stream_options": {"include_usage": True},
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                                    "parameters": WEATHER["input_schema"]}}],
        "tool_choice": "required", "parallel_tool_calls": False,
        "messages": [
            {"role": "system", "content": "You are Claude Code.\n\nBe concise."},
            {"role": "user", "content": "Weather in Paris and a picture?"},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "get_weather",
                                                                   "arguments": '{"city":"Paris"}'}}]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
                                         {"type": "text", "text": "Thanks"}]},
        ],
    }


def test_system_messages_inside_messages_stay_in_place_as_claude_code_sends_them():
    recorded = json.loads(AGENTS.joinpath("claude_code_2.1.332_2.request.json").read_text())["body"]
    chat = to_openai_request(recorded)
    roles = [message["role"] for message in chat["messages"]]
    assert roles == ["system", "user", "system", "assistant", "tool"]
    assert chat["messages"][2]["content"] == recorded["messages"][1]["content"]
    assert chat["messages"][2]["content"].startswith("# Environment")
    blocks = {"model": "m", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "system", "content": [{"type": "text", "text": "one", "cache_control": {"type": "ephemeral"}},
                                       {"type": "text", "text": "two"}]},
        {"role": "system", "content": []}]}
    assert to_openai_request(blocks)["messages"] == [{"role": "user", "content": "hi"},
                                                     {"role": "system", "content": "one\n\ntwo"}]


@pytest.mark.parametrize(("body", "param"), [
    ([], None),
    ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
    ({"model": "m", "messages": []}, "messages"),
    ({"model": "m", "messages": [{"role": "tool", "content": "hi"}]}, "messages.0"),
    ({"model": "m", "messages": [{"role": "system", "content": [{"type": "image"}]}]}, "messages.0.content.0"),
    ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages.0.content"),
    ({"model": "m", "messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}]},
     "messages.0.content.0.source"),
    ({"model": "m", "max_tokens": "many", "messages": [{"role": "user", "content": "hi"}]}, "max_tokens"),
    ({"model": "m", "tools": [{"type": "web_search_20250305", "name": "web_search"}],
      "messages": [{"role": "user", "content": "hi"}]}, "tools.0"),
    ({"model": "m", "system": [{"type": "image"}], "messages": [{"role": "user", "content": "hi"}]}, "system.0"),
])
def test_bad_messages_requests_name_the_field(body, param):
    with pytest.raises(InvalidRequest) as caught:
        to_openai_request(body)
    assert caught.value.param == param


def test_an_openai_answer_becomes_a_message():
    completion = {"id": "chatcmpl-1", "model": "gpt-4o", "choices": [{"index": 0, "finish_reason": "tool_calls",
        "message": {"role": "assistant", "content": "Let me look.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{broken"}}]}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "prompt_tokens_details": {"cached_tokens": 60}}}
    assert to_anthropic_message(completion, model="auto") == {
        "id": "msg_chatcmpl-1", "type": "message", "role": "assistant", "model": "gpt-4o",
        "content": [{"type": "text", "text": "Let me look."},
                    {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Oslo"}},
                    {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {}}],
        "stop_reason": "tool_use", "stop_sequence": None,
        "usage": {"input_tokens": 40, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 60,
                  "output_tokens": 20},
    }


def test_openai_chunks_become_anthropic_events_one_by_one():
    builder = MessageStreamBuilder("auto")

    def chunk(delta, finish=None):
        return {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    steps = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hi"}),
        chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                               "function": {"name": "f", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "call_2", "function": {"name": "g", "arguments": "{}"}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
        chunk({}, "tool_calls"),
        {"id": "c1", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}},
    ]
    produced = [[name for name, _ in events(b"".join(builder.feed(step)))] for step in steps]
    assert produced == [
        ["message_start"], ["content_block_start", "ping", "content_block_delta"],
        ["content_block_stop", "content_block_start"], ["content_block_delta"],
        ["content_block_stop", "content_block_start", "content_block_delta"], ["content_block_delta"], [], [],
    ]
    tail = events(b"".join(builder.done()))
    assert tail == [
        ("content_block_stop", {"type": "content_block_stop", "index": 2}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                           "usage": {"input_tokens": 9, "cache_creation_input_tokens": 0,
                                     "cache_read_input_tokens": 0, "output_tokens": 4}}),
        ("message_stop", {"type": "message_stop"}),
    ]


def test_token_count_is_an_estimate_of_about_four_characters_per_token():
    body = {"model": "m", "system": "x" * 400, "messages": [{"role": "user", "content": "y" * 400}]}
    assert estimate_input_tokens(body) == 200 + 4


# --- the official anthropic SDK through the gateway, mock OpenAI upstream ---------------------------------------


def test_text_message(client, gateway):
    raw = client.messages.with_raw_response.create(
        model="smart-model", max_tokens=200, system="Be brief.", messages=[{"role": "user", "content": "Say hello"}])
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "mock reply to: Say hello"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (4, 5)
    assert raw.headers["x-gateway-model"] == "smart-model" and raw.headers["request-id"].startswith("gw-")
    [row] = usage_rows(1)
    assert (row.model, row.prompt_tokens, row.completion_tokens, row.status) == ("smart-model", 4, 5, "ok")


def test_streamed_text_message(client, gateway, upstream):
    upstream.configure(default={"chunks": 4})
    with client.messages.stream(model="auto:architect", max_tokens=200,
                                messages=[{"role": "user", "content": "Design a cache"}]) as stream:
        pieces = list(stream.text_stream)
        message = stream.get_final_message()
    assert len(pieces) == 4 and "".join(pieces) == "mock reply to: Design a cache"
    assert message.content[0].text == "mock reply to: Design a cache" and message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (3, 6)
    [row] = usage_rows(1)
    assert (row.role, row.model, row.stream, row.total_tokens) == ("architect", "smart-model", True, 9)


def test_raw_event_stream_has_anthropics_sequence(gateway):
    response = httpx.post(f"{gateway.url}/v1/messages", timeout=10, headers={
        "x-api-key": "ignored", "anthropic-version": "2023-06-01"}, json={
        "model": "fast-model", "max_tokens": 50, "stream": True, "messages": [{"role": "user", "content": "Hi"}]})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    names = [name for name, _ in events(response.content)]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert set(names[3:-3]) == {"content_block_delta"}
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]


@pytest.mark.parametrize("stream", [False, True])
def test_tool_use_and_tool_result_round(client, gateway, stream):
    request = {"model": "smart-model", "max_tokens": 100, "tools": [WEATHER],
               "messages": [{"role": "user", "content": "Weather in Paris?"}]}
    if stream:
        with client.messages.stream(**request) as events_:
            message = events_.get_final_message()
    else:
        message = client.messages.create(**request)
    [call] = message.content
    assert (call.type, call.name, call.input, message.stop_reason) == ("tool_use", "get_weather", {"city": "test"},
                                                                      "tool_use")
    follow_up = client.messages.create(**{**request, "messages": [
        *request["messages"],
        {"role": "assistant", "content": [call.model_dump(exclude_none=True)]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 21C"}]},
    ]})
    assert follow_up.content[0].text == "mock reply to tool result: sunny, 21C"


def test_errors_come_in_anthropics_shape(client, gateway):
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(model="gpt-17-ultra", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.body["type"] == "error" and caught.value.body["error"]["type"] == "not_found_error"
    for body, says in [(b"{nope", "not valid JSON"), (b'{"model": "smart-model"}', "messages")]:
        response = httpx.post(f"{gateway.url}/v1/messages", content=body, timeout=10,
                              headers={"content-type": "application/json"})
        assert response.status_code == 400
        error = response.json()
        assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
        assert says in error["error"]["message"]


def test_a_failure_mid_stream_becomes_an_error_event(client, gateway, upstream):
    upstream.configure(models={"fast-upstream": {"mode": "drop_mid_stream", "chunks": 6}})
    response = httpx.post(f"{gateway.url}/v1/messages", timeout=10, json={
        "model": "fast-model", "max_tokens": 50, "stream": True, "messages": [{"role": "user", "content": "a b c"}]})
    received = events(response.content)
    assert received[0][0] == "message_start" and received[-1][0] == "error"
    assert received[-1][1]["type"] == "error" and received[-1][1]["error"]["message"]
    assert "message_stop" not in [name for name, _ in received]
    with pytest.raises(anthropic.APIStatusError), client.messages.stream(
            model="fast-model", max_tokens=50, messages=[{"role": "user", "content": "a b c"}]) as stream:
        stream.get_final_message()
    rows = usage_rows(2)
    assert [row.status for row in rows] == ["error", "error"]


def test_count_tokens_is_an_estimate(client, gateway):
    raw = client.messages.with_raw_response.count_tokens(model="smart-model",
                                                         messages=[{"role": "user", "content": "x" * 40}])
    assert raw.parse().input_tokens == 10 + 4 and raw.headers["x-gateway-token-count"] == "estimate"


# --- full circle: Anthropic in, Anthropic provider out ---------------------------------------------------


@pytest.fixture
def claude(gateway, routing):
    from routing.models import Model, Provider

    server = AnthropicLoopback()
    provider = Provider.objects.create(name="claude", kind="anthropic", base_url=server.base_url,
                                       api_key_env="MOCKAI_API_KEY", tier="paid", timeout_seconds=5)
    Model.objects.create(public_id="claude-model", provider=provider, upstream_name="claude-haiku-4-5-20251001")
    gateway.sync_config()
    yield server
    server.close()


def without(request: dict, *names: str) -> dict:
    return {k: v for k, v in request.items() if k not in names}


@pytest.mark.parametrize(("request_name", "answer"), [
    ("messages_stream_tool_use.recorded.request.json", "messages_stream_tool_use.recorded.sse"),
    ("messages_stream_after_tool_result.recorded.request.json", "messages_stream_after_tool_result.recorded.sse"),
])
def test_full_circle_through_an_anthropic_provider(client, claude, request_name, answer):
    claude.serve_fixture(answer)
    recorded = fixture_json(request_name)
    # This SDK version has no `temperature` argument any more: the recorded one goes as an extra field.
    request = without({**recorded, "model": "claude-model"}, "stream", "temperature")
    with client.messages.stream(**request, extra_body={"temperature": recorded["temperature"]}) as stream:
        message = stream.get_final_message()
    assert without(claude.last.body, "model") == without(recorded, "model")  # what the SDK sent, unchanged
    assert claude.last.body["model"] == "claude-haiku-4-5-20251001"
    replayed = [json.loads(d) for d in SSEDecoder().feed(ANTHROPIC.joinpath(answer).read_bytes())]
    original = replayed[0]["message"]
    assert message.id == original["id"] and message.model == original["model"]
    stop = next(e for e in replayed if e["type"] == "message_delta")
    assert message.stop_reason == stop["delta"]["stop_reason"]
    assert message.usage.output_tokens == stop["usage"]["output_tokens"]
    assert message.usage.input_tokens == stop["usage"]["input_tokens"]
    starts = [e["content_block"] for e in replayed if e["type"] == "content_block_start"]
    assert [(b.type, getattr(b, "id", None), getattr(b, "name", None)) for b in message.content] == [
        (s["type"], s.get("id"), s.get("name")) for s in starts]


def test_events_leave_as_the_upstream_sends_them_and_a_client_leaving_is_recorded(gateway, upstream):
    import time

    upstream.configure(default={"chunks": 5, "chunk_delay_ms": 300})
    started = time.monotonic()
    with httpx.stream("POST", f"{gateway.url}/v1/messages", timeout=10, json={
        "model": "fast-model", "max_tokens": 50, "stream": True,
            "messages": [{"role": "user", "content": "one two three four five"}]}) as response:
        lines = response.iter_lines()
        first_delta = next(line for line in lines if line.startswith("data:") and "text_delta" in line)
        assert time.monotonic() - started < 1.2  # the whole answer takes 1.5 s: this came on its own
        assert json.loads(first_delta[5:])["delta"]["text"]
    [row] = usage_rows(1, status="client_closed")
    assert row.model == "fast-model" and row.stream


# --- Claude Code's own requests (recorded from 2.1.332) -------------------------------------------------


def _claude_code_request(number: int, **changes) -> dict:
    return {**json.loads(AGENTS.joinpath(f"claude_code_2.1.332_{number}.request.json").read_text())["body"],
            **changes}


def test_claude_codes_first_request_is_served_through_an_openai_compatible_backend(gateway, upstream):
    """Its environment block comes as a `system` message after the first user turn: accepted, kept in place."""
    response = httpx.post(f"{gateway.url}/v1/messages?beta=true", timeout=10,
                          headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
                          json=_claude_code_request(2, model="smart-model"))
    assert response.status_code == 200, response.text
    names = [name for name, _ in events(response.content)]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    sent = upstream.stats()["log"][-1]["body"]
    assert [message["role"] for message in sent["messages"]] == ["system", "user", "system", "assistant", "tool"]
    assert sent["messages"][2]["content"].startswith("# Environment")


def test_single_system_prompt_backends_merge_every_system_message_in_order():
    from providers.anthropic.translate_request import to_anthropic
    from providers.google.request import to_gemini_request

    chat = to_openai_request(_claude_code_request(9))
    system_texts = [message["content"] for message in chat["messages"] if message["role"] == "system"]
    assert len(system_texts) == 3
    gemini = to_gemini_request(chat)
    assert [part["text"] for part in gemini["systemInstruction"]["parts"]] == system_texts
    claude = to_anthropic(chat, "claude-haiku-4-5").payload
    assert [block["text"] for block in claude["system"]] == system_texts
    assert [turn["role"] for turn in claude["messages"]] == ["user", "assistant", "user"]


def test_models_in_anthropics_shape_for_anthropics_sdk(client, gateway):
    listed = [model.id for model in client.models.list(limit=2)]  # the SDK follows `after_id` page by page
    assert listed[:1] == ["auto"] and {"fast-model", "smart-model", "free-model"} <= set(listed)
    assert len(listed) == len(set(listed))
    one = client.models.retrieve("fast-model")
    assert (one.type, one.id, one.display_name) == ("model", "fast-model", "fast-model")
    assert one.created_at.year >= 2026
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.models.retrieve("gpt-17-ultra")
    assert caught.value.body["error"]["type"] == "not_found_error"
    page = httpx.get(f"{gateway.base_url}/models?limit=2&after_id=auto", timeout=10,
                     headers={"anthropic-version": "2023-06-01"}).json()
    assert page["first_id"] == listed[1] and page["has_more"] is True and len(page["data"]) == 2
    bad = httpx.get(f"{gateway.base_url}/models?limit=0", timeout=10, headers={"anthropic-version": "2023-06-01"})
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
    assert httpx.get(f"{gateway.base_url}/models", timeout=10).json()["object"] == "list"  # OpenAI's otherwise


def test_messages_are_served_by_the_fast_asgi_front_without_django():
    import asyncio

    from proxy.fronts.asgi import GatewayASGI

    async def django(scope, receive, send):
        raise AssertionError(f"{scope['path']} reached Django's handler")

    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b'{"model": "m", "messages": [{"role": "tool"}]}', "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/messages", "query_string": b"beta=true",
             "headers": [(b"content-type", b"application/json")], "client": ("127.0.0.1", 5000)}
    asyncio.run(GatewayASGI(django)(scope, receive, send))
    start, body = sent
    assert start["status"] == 400
    error = json.loads(body["body"])
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert "messages.0 must be an object with role" in error["error"]["message"]
