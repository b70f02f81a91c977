"""`/v1/messages` to an Anthropic backend is a pass-through: what the client sends arrives unchanged
(thinking, cache_control, context_management, output_config, top_k, beta flags), and what Anthropic
answers comes back unchanged (thinking blocks with signatures, cache counts), streamed or not, while
routing, keys and usage rows work as for any request. To other backends the structured-output request
is translated and what has no equivalent is named in a warning header.
"""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import httpx
import pytest
from pydantic import BaseModel

from tests.conftest import MOCK_KEY, usage_rows
from tests.providers.anthropic_loopback import AnthropicLoopback, Reply

AGENTS = Path(__file__).resolve().parents[1] / "fixtures" / "agents"
SIGNATURE = "EqQBCkYIARgCIkCr5sYxQk3x0mJvCqg2eAbn9Dd0sG8lS5D5w5mE1yY1hL0+1x8ybVhYh1Qw=="
USAGE_START = {"input_tokens": 20, "cache_creation_input_tokens": 300, "cache_read_input_tokens": 12000,
               "output_tokens": 1, "service_tier": "standard"}
USAGE_END = {"input_tokens": 20, "cache_creation_input_tokens": 300, "cache_read_input_tokens": 12000,
             "output_tokens": 42}


def sse(*events: dict) -> bytes:
    return b"".join(b"event: " + e["type"].encode() + b"\ndata: " + json.dumps(e).encode() + b"\n\n" for e in events)


def streamed_text(body: bytes) -> str:
    events = [json.loads(line[6:]) for line in body.decode().splitlines() if line.startswith("data: ")]
    return "".join(e["delta"]["text"] for e in events
                   if e["type"] == "content_block_delta" and e["delta"]["type"] == "text_delta")


THINKING_STREAM = sse(
    {"type": "message_start", "message": {
        "id": "msg_01Native", "type": "message", "role": "assistant", "model": "claude-opus-4-5-20251101",
        "content": [], "stop_reason": None, "stop_sequence": None, "usage": USAGE_START}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "The file says hi."}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": SIGNATURE}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "It says hello."}},
    {"type": "content_block_stop", "index": 1},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": USAGE_END},
    {"type": "message_stop"},
)

THINKING_MESSAGE = {
    "id": "msg_01Whole", "type": "message", "role": "assistant", "model": "claude-opus-4-5-20251101",
    "content": [{"type": "thinking", "thinking": "Short answer.", "signature": SIGNATURE},
                {"type": "text", "text": "Hello!"}],
    "stop_reason": "end_turn", "stop_sequence": None, "usage": USAGE_END,
}


@pytest.fixture
def claude(gateway, routing):
    from routing.models import Model, Provider

    server = AnthropicLoopback()
    provider = Provider.objects.create(name="claude", kind="anthropic", base_url=server.base_url,
                                       api_key_env="MOCKAI_API_KEY", tier="paid", timeout_seconds=5)
    Model.objects.create(public_id="claude-model", provider=provider, upstream_name="claude-opus-4-5-20251101")
    gateway.sync_config()
    yield server
    server.close()


@pytest.fixture
def client(gateway):
    with anthropic.Anthropic(base_url=gateway.url, api_key="the-clients-gateway-key", max_retries=0,
                             timeout=20) as client:
        yield client


def claude_code_request(number: int) -> tuple[dict, dict[str, str]]:
    recorded = json.loads(AGENTS.joinpath(f"claude_code_2.1.332_{number}.request.json").read_text())
    headers = {name.lower(): value for name, value in recorded["headers"]
               if name.lower() in ("anthropic-beta", "anthropic-version", "x-claude-code-session-id", "user-agent")}
    return recorded["body"], headers


def test_claude_codes_request_reaches_an_anthropic_backend_unchanged_and_its_stream_comes_back_unchanged(
        gateway, claude):
    body, headers = claude_code_request(2)
    claude.serve(Reply(THINKING_STREAM, content_type="text/event-stream"))
    response = httpx.post(f"{gateway.url}/v1/messages?beta=true", timeout=10, json={**body, "model": "claude-model"},
                          headers={**headers, "x-api-key": "the-clients-gateway-key",
                                   "anthropic-beta": headers["anthropic-beta"] + ",oauth-2025-04-20"})
    assert response.status_code == 200, response.text
    assert response.content == THINKING_STREAM  # thinking, its signature and the cache counts, byte for byte

    received = claude.last
    assert received.body == {**body, "model": "claude-opus-4-5-20251101"}
    for name in ("thinking", "context_management", "output_config", "metadata", "max_tokens"):
        assert received.body[name] == body[name]
    assert received.body["system"][1]["cache_control"] == {"type": "ephemeral"}
    assert received.body["messages"][3]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert received.path == "/v1/messages?beta=true"
    assert received.headers["anthropic-beta"] == headers["anthropic-beta"]  # the OAuth flag is not forwarded
    assert received.headers["x-api-key"] == MOCK_KEY  # the provider's key, never the client's

    [row] = usage_rows(1)
    assert (row.model, row.status, row.stream) == ("claude-model", "ok", True)
    assert (row.prompt_tokens, row.completion_tokens) == (20 + 300 + 12000, 42)


def test_thinking_and_cache_control_arrive_unchanged_and_the_answer_keeps_its_signature(client, claude):
    claude.serve(Reply(json.dumps(THINKING_MESSAGE).encode()))
    earlier = [{"type": "thinking", "thinking": "Earlier thought.", "signature": "c2lnbmF0dXJl"},
               {"type": "text", "text": "Earlier answer."}]
    request = dict(
        model="claude-model", max_tokens=4096, thinking={"type": "enabled", "budget_tokens": 2048},
        system=[{"type": "text", "text": "A long cached preamble.", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "First question"}, {"role": "assistant", "content": earlier},
                  {"role": "user", "content": [{"type": "text", "text": "Say hello",
                                                "cache_control": {"type": "ephemeral", "ttl": "1h"}}]}],
        metadata={"user_id": "someone"}, service_tier="auto",
    )
    raw = client.messages.with_raw_response.create(**request, extra_body={"top_k": 5})  # no SDK argument any more
    message = raw.parse()
    sent = claude.last.body
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048} and sent["top_k"] == 5
    assert sent["system"] == request["system"] and sent["messages"] == request["messages"]
    assert sent["service_tier"] == "auto" and sent["metadata"] == {"user_id": "someone"}
    assert json.loads(raw.http_response.content) == THINKING_MESSAGE  # unchanged
    thinking, text = message.content
    assert (thinking.type, thinking.signature, text.text) == ("thinking", SIGNATURE, "Hello!")
    assert (message.usage.cache_read_input_tokens, message.usage.cache_creation_input_tokens) == (12000, 300)
    assert "x-gateway-warning" not in raw.headers
    [row] = usage_rows(1)
    assert (row.prompt_tokens, row.completion_tokens, row.stream) == (12320, 42, False)


class City(BaseModel):
    name: str
    population: int


def test_parse_with_output_format_through_an_openai_compatible_backend(client, gateway, upstream):
    message = client.messages.parse(model="smart-model", max_tokens=200, output_format=City,
                                    messages=[{"role": "user", "content": "Biggest city in France?"}])
    assert message.parsed_output == City(name="mock reply to: Biggest city in France?", population=1)
    sent = upstream.stats()["log"][-1]["body"]
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"]["required"] == ["name", "population"]


def test_parse_with_output_format_through_an_anthropic_backend(client, claude):
    answer = {**THINKING_MESSAGE, "content": [{"type": "text", "text": '{"name": "Paris", "population": 2102650}'}]}
    claude.serve(Reply(json.dumps(answer).encode()))
    message = client.messages.parse(model="claude-model", max_tokens=200, output_format=City,
                                    messages=[{"role": "user", "content": "Biggest city in France?"}])
    assert message.parsed_output == City(name="Paris", population=2102650)
    sent_format = claude.last.body["output_config"]["format"]
    assert sent_format["type"] == "json_schema" and set(sent_format["schema"]["properties"]) == {"name", "population"}


def test_what_an_openai_compatible_backend_cannot_take_is_named_in_a_warning(client, gateway, upstream):
    raw = client.messages.with_raw_response.create(
        model="smart-model", max_tokens=2048, thinking={"type": "adaptive"}, extra_body={"top_k": 3},
        output_config={"effort": "low"}, messages=[{"role": "user", "content": "hi"}])
    assert raw.parse().content[0].text == "mock reply to: hi"
    assert raw.headers["x-gateway-warning"] == (
        "dropped, the backend has no equivalent: thinking, top_k, output_config.effort")
    sent = upstream.stats()["log"][-1]["body"]
    assert not {"thinking", "top_k", "output_config"} & set(sent)


def test_a_native_stream_cut_before_its_end_ends_with_an_error_event(gateway, claude):
    last_block_stop = b'event: content_block_stop\ndata: {"type": "content_block_stop", "index": 1}'
    cut = THINKING_STREAM[: THINKING_STREAM.index(last_block_stop)]
    claude.serve(Reply(cut, content_type="text/event-stream"))
    response = httpx.post(f"{gateway.url}/v1/messages", timeout=10, json={
        "model": "claude-model", "max_tokens": 50, "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    assert response.content.startswith(cut)
    tail = response.content[len(cut):].decode()
    assert tail.startswith("event: error\n") and "before the answer was complete" in tail
    [row] = usage_rows(1)
    assert row.status == "error"


def test_an_anthropic_refusal_comes_back_in_anthropics_shape(client, claude):
    error = {"type": "error", "error": {"type": "invalid_request_error", "message": "thinking.budget_tokens: too low"}}
    claude.serve(Reply(json.dumps(error).encode(), status=400))
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model="claude-model", max_tokens=10, thinking={"type": "enabled", "budget_tokens": 1},
                               messages=[{"role": "user", "content": "hi"}])
    assert "thinking.budget_tokens: too low" in caught.value.body["error"]["message"]


SERVER_TOOL_REQUEST = {
    "max_tokens": 1024,
    "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
              {"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}],
    "messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Notes."}},
        {"type": "text", "text": "Search the web for the weather."}]}],
}


def test_server_tools_and_text_documents_reach_an_anthropic_backend_as_they_are(client, claude):
    claude.serve(Reply(json.dumps(THINKING_MESSAGE).encode()))
    message = client.messages.create(model="claude-model", **SERVER_TOOL_REQUEST)
    assert message.content[1].text == "Hello!"
    assert claude.last.body == {**SERVER_TOOL_REQUEST, "model": "claude-opus-4-5-20251101"}


def test_what_only_anthropic_can_take_is_refused_by_other_backends_naming_it(client, gateway, upstream):
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model="smart-model", **SERVER_TOOL_REQUEST)
    message = caught.value.body["error"]["message"]
    assert "tools.0: server tools ('web_search_20250305')" in message
    assert "messages.0.content.0.source: a document needs a base64 or url source" in message and "mockai" in message
    assert upstream.stats()["requests"] == 0  # nothing was sent
    [row] = usage_rows(1)
    assert (row.status, row.status_code, row.error_type) == ("error", 400, "unsupported_feature")


def test_an_anthropic_stream_that_fails_before_any_content_falls_back_to_the_next_candidate(gateway, claude, routing):
    from routing.models import Model, ModelFallback

    ModelFallback.objects.create(model=Model.objects.get(public_id="claude-model"),
                                 fallback=routing.models["smart-model"], position=0)
    gateway.sync_config()
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    claude.serve(Reply(THINKING_STREAM.split(b"\n\n")[0] + b"\n\n" + sse(overloaded),
                       content_type="text/event-stream"))
    response = httpx.post(f"{gateway.url}/v1/messages", timeout=10, json={
        "model": "claude-model", "max_tokens": 50, "stream": True, "thinking": {"type": "adaptive"},
        "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 200 and response.headers["x-gateway-model"] == "smart-model"
    assert b"msg_01Native" not in response.content  # the failed attempt's message_start was never sent
    assert streamed_text(response.content) == "mock reply to: hi"
    assert response.headers["x-gateway-warning"] == "dropped, the backend has no equivalent: thinking"
    [row] = usage_rows(1)
    assert (row.model, row.attempts, row.status) == ("smart-model", 2, "ok")


def test_only_safe_beta_flags_are_forwarded():
    from providers.anthropic.native import forwarded_headers, forwarded_query, payload
    from providers.base import NativeRequest

    flags = "claude-code-20250219, oauth-2025-04-20,interleaved-thinking-2025-05-14,Bad Flag\r\nx: y,,"
    assert forwarded_headers({"anthropic-beta": flags}) == {
        "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14"}
    assert forwarded_headers({"anthropic-beta": "oauth-2025-04-20"}) == {}
    assert forwarded_query({"beta": "true"}) == {"beta": "true"} and forwarded_query({"beta": "1; x"}) == {}
    request = NativeRequest("anthropic-messages", {"model": "alias", "role": "architect", "profile": "work",
                                                   "stream": True, "messages": []})
    assert json.loads(payload(request, "claude-x", stream=False)) == {"model": "claude-x", "messages": []}


def test_subscribers_get_the_answer_of_a_native_message_too():
    from proxy.steps import answer_from_body

    tool = {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "a.txt"}}
    message = {**THINKING_MESSAGE, "content": [*THINKING_MESSAGE["content"], tool]}
    answer = answer_from_body(json.dumps(message).encode())
    assert answer.text == "Hello!"
    assert answer.tool_calls == [{"id": "toolu_1", "type": "function",
                                  "function": {"name": "Read", "arguments": '{"file_path":"a.txt"}'}}]


def test_structured_outputs_become_gemini_response_schema():
    from anthropic import transform_schema  # what messages.parse(output_format=City) sends

    from providers.google.request import to_gemini_request
    from proxy.fronts.messages.translate_request import to_openai_request

    body = {"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": "Biggest city?"}],
            "output_config": {"format": {"type": "json_schema", "schema": transform_schema(City)}}}
    config = to_gemini_request(to_openai_request(body))["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert set(config["responseSchema"]["properties"]) == {"name", "population"}
    assert config["responseSchema"]["properties"]["population"]["type"].lower() == "integer"
