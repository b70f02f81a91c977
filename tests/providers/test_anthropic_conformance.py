"""Conformance: recorded Anthropic traffic replayed from a loopback server, through the real gateway.

The client is the official `openai` SDK: it must see exactly OpenAI's shapes (content, tool calls,
finish reasons, usage, the chunk sequence), and the loopback must receive the Anthropic request
the recording was made with.
"""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.conftest import MOCK_KEY, usage_rows
from tests.providers.anthropic_loopback import ANTHROPIC, AnthropicLoopback, Reply, fixture, fixture_json
from tests.providers.test_anthropic_translate import PELICAN_TOOL, RECORDED_REQUESTS, comparable

UPSTREAM = "claude-sonnet-4-5"


@pytest.fixture
def claude(gateway, routing):
    """A provider of kind `anthropic` on a loopback server; `claude-model` has `backup-model` as fallback."""
    from routing.models import Model, ModelFallback, Provider

    server = AnthropicLoopback()
    provider = Provider.objects.create(name="claude", kind="anthropic", base_url=server.base_url,
                                       api_key_env="MOCKAI_API_KEY", tier="paid", timeout_seconds=5)
    model = Model.objects.create(public_id="claude-model", provider=provider, upstream_name=UPSTREAM,
                                 input_price_per_mtok=3, output_price_per_mtok=15, supports_vision=True)
    Model.objects.create(public_id="claude-alone", provider=provider, upstream_name=UPSTREAM)
    ModelFallback.objects.create(model=model, fallback=routing.models["backup-model"], position=0)
    gateway.sync_config()
    yield server
    server.close()


def assert_recorded_request(server: AnthropicLoopback, name: str) -> None:
    received = server.last
    assert received.path == "/v1/messages"
    assert received.headers["x-api-key"] == MOCK_KEY
    assert received.headers["anthropic-version"] == "2023-06-01"
    recorded = comparable(fixture_json(name))
    sent = comparable(received.body)
    assert sent.pop("model") == UPSTREAM
    recorded.pop("model")
    assert sent == recorded


def test_recorded_text_answer(sdk, claude):
    claude.serve_fixture("messages_response.recorded.json")
    request = RECORDED_REQUESTS["messages_response.recorded.request.json"]
    raw = sdk.chat.completions.with_raw_response.create(model="claude-model", **request)
    completion = raw.parse()
    assert completion.to_dict() == {
        "id": "msg_01Fg1JVgvCYUHWsxrj9GkpEv", "object": "chat.completion", "created": completion.created,
        "model": "claude-3-opus-20240229",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "The capital of France is Paris.",
                                             "refusal": None}, "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30,
                  "prompt_tokens_details": {"cached_tokens": 0}},
    }
    assert raw.headers["x-gateway-provider"] == "claude"
    assert_recorded_request(claude, "messages_response.recorded.request.json")
    [row] = usage_rows(1)
    assert (row.provider, row.upstream_model, row.prompt_tokens, row.completion_tokens) == (
        "claude", "claude-3-opus-20240229", 20, 10)
    assert float(row.cost) == pytest.approx(20 * 3e-6 + 10 * 15e-6)


@pytest.mark.parametrize(("request_name", "answer", "call"), [
    ("messages_tool_use_response.recorded.request.json", "messages_tool_use_response.recorded.json",
     ("toolu_01X9wcHKKAZD9tBC711xipPa", "get_user_country", "{}")),
    ("messages_after_tool_result.recorded.request.json", "messages_tool_use_response_2.recorded.json",
     ("toolu_01LZABsgreMefH2Go8D5PQbW", "final_result", '{"city":"Mexico City","country":"Mexico"}')),
])
def test_recorded_tool_use_answers(sdk, claude, request_name, answer, call):
    claude.serve_fixture(answer)
    completion = sdk.chat.completions.create(model="claude-model", **RECORDED_REQUESTS[request_name])
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [tool_call] = choice.message.tool_calls
    assert (tool_call.id, tool_call.function.name, tool_call.function.arguments) == call
    assert_recorded_request(claude, request_name)
    usage = fixture_json(answer)["usage"]
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (
        usage["input_tokens"], usage["output_tokens"])


def stream_chunks(sdk, **request) -> list[dict]:
    stream = sdk.chat.completions.create(model="claude-model", stream=True,
                                         stream_options={"include_usage": True}, **request)
    return [chunk.to_dict() for chunk in stream]


def test_recorded_text_stream(sdk, claude):
    claude.serve_fixture("messages_stream_text.recorded.sse")
    request = RECORDED_REQUESTS["messages_stream_text.recorded.request.json"]
    chunks = stream_chunks(sdk, **{k: v for k, v in request.items() if k != "stream"})
    assert {(c["id"], c["object"], c["model"]) for c in chunks} == {
        ("msg_017A4s3HAsrqf5d2WvBmrpLr", "chat.completion.chunk", "claude-sonnet-4-5-20250929")}
    assert [(c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) for c in chunks[:-1]] == [
        ({"role": "assistant", "content": ""}, None),
        ({"content": "-"}, None), ({"content": " Captain"}, None), ({"content": "\n- Sc"}, None),
        ({"content": "oop"}, None), ({}, "stop"),
    ]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == {
        "prompt_tokens": 17, "completion_tokens": 10, "total_tokens": 27, "prompt_tokens_details": {"cached_tokens": 0}}
    assert_recorded_request(claude, "messages_stream_text.recorded.request.json")
    [row] = usage_rows(1)
    assert (row.status, row.prompt_tokens, row.completion_tokens, row.stream) == ("ok", 17, 10, True)


def test_recorded_parallel_tool_use_stream(sdk, claude):
    claude.serve_fixture("messages_stream_tool_use.recorded.sse")
    request = RECORDED_REQUESTS["messages_stream_tool_use.recorded.request.json"]
    chunks = stream_chunks(sdk, **{k: v for k, v in request.items() if k != "stream"})
    assert [(c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) for c in chunks[:-1]] == [
        ({"role": "assistant", "content": None, "tool_calls": [{
            "index": 0, "id": "toolu_01LtHJmixrs9NcWQkK8hu8hj", "type": "function",
            "function": {"name": "pelican_name_generator", "arguments": ""}}]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}, None),
        ({"tool_calls": [{"index": 1, "id": "toolu_01N8a4jWyf116qKTMqKKmjyt", "type": "function",
                          "function": {"name": "pelican_name_generator", "arguments": ""}}]}, None),
        ({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}, None),
        ({}, "tool_calls"),
    ]
    assert chunks[-1]["usage"]["total_tokens"] == 604
    assert_recorded_request(claude, "messages_stream_tool_use.recorded.request.json")


def accumulate(chunks: list[dict]) -> tuple[str, list[tuple[str, str, str]], str | None]:
    """What a client assembles from a stream: the text, each tool call (id, name, arguments), the finish."""
    text, calls, finish = "", {}, None
    for chunk in chunks:
        for choice in chunk["choices"]:
            delta = choice["delta"]
            text += delta.get("content") or ""
            for call in delta.get("tool_calls") or ():
                entry = calls.setdefault(call["index"], ["", "", ""])
                entry[0] += call.get("id") or ""
                entry[1] += (call.get("function") or {}).get("name") or ""
                entry[2] += (call.get("function") or {}).get("arguments") or ""
            finish = choice["finish_reason"] or finish
    return text, [tuple(calls[i]) for i in sorted(calls)], finish


@pytest.mark.parametrize(("name", "text", "calls", "finish", "tokens"), [
    ("messages_stream_after_tool_result.recorded.sse",
     "Here are two great names for your pet pelican:\n\n1. **Charles** - A sophisticated and dignified name, perfect "
     "for a pelican with personality!\n2. **Sammy** - A friendly and playful name that gives off warm, approachable "
     "vibes.\n\nEither of these would make an excellent name for your feathered friend! 🦅", [], "stop", (678, 82)),
    ("sdk_fixture_basic_response.sse", "Hello there!", [], "stop", (11, 6)),
    ("sdk_fixture_tool_use_response.sse", "I'll check the current weather in Paris for you.",
     [("toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather", '{"location": "Paris"}')], "tool_calls", (377, 65)),
    ("sdk_fixture_incomplete_partial_json_response.sse",
     "I'll create a comprehensive tax guide for someone with multiple W2s and save it in a file called taxes.txt. "
     "Let me do that for you now.",
     [("toolu_01EKqbqmZrGRXy18eN7m9kvY", "make_file", '{"filename": "taxes.txt", "lines_of_text": [\n"# COMPREHENSIVE'
       ' TAX GUIDE FOR INDIVIDUALS WITH MULTIPLE W-2s",\n"",\n"## INTRODUCTION",\n"",\n"Filing taxes')],
     "length", (450, 124)),
])
def test_recorded_streams_assemble_to_the_same_answer(sdk, claude, name, text, calls, finish, tokens):
    claude.serve_fixture(name)
    request = RECORDED_REQUESTS["messages_stream_after_tool_result.recorded.request.json"]
    chunks = stream_chunks(sdk, **{k: v for k, v in request.items() if k != "stream"})
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert len({c["id"] for c in chunks}) == 1
    assert accumulate(chunks) == (text, calls, finish)
    usage = chunks[-1]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == tokens
    if name.startswith("messages_stream_after"):
        assert_recorded_request(claude, "messages_stream_after_tool_result.recorded.request.json")


@pytest.mark.parametrize(("overloaded", "stream"), [
    (Reply(fixture("error_529_overloaded.json") if ANTHROPIC.exists() else b"", status=529), False),
    (Reply(fixture("error_529_overloaded.json") if ANTHROPIC.exists() else b"", status=529), True),
    # A 200 stream whose first event is an error: nothing reached the client yet, so it still falls back.
    (Reply(fixture("messages_stream_error_event.sse") if ANTHROPIC.exists() else b"",
           content_type="text/event-stream"), True),
])
def test_overloaded_claude_falls_back_to_the_next_candidate(sdk, claude, overloaded, stream):
    claude.serve(overloaded)
    raw = sdk.chat.completions.with_raw_response.create(
        model="claude-model", messages=[{"role": "user", "content": "hello"}], stream=stream)
    assert raw.headers["x-gateway-model"] == "backup-model" and raw.headers["x-gateway-attempts"] == "2"
    if not stream:
        assert raw.parse().choices[0].message.content == "mock reply to: hello"
    else:
        assert "mock reply to: hello" in "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    [row] = usage_rows(1)
    assert row.attempt_log[0]["provider"] == "claude" and "Overloaded" in row.attempt_log[0]["error"]


def test_overloaded_with_no_fallback_is_a_502_naming_anthropic_error(sdk, claude):
    claude.serve_fixture("error_529_overloaded_with_details.json", status=529)
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model="claude-alone", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 502
    message = caught.value.body["message"]
    assert "Overloaded" in message and "req_011CYeT1GYt7Kg27RdtV9zeo" in message


@pytest.mark.parametrize(("name", "status", "error", "says"), [
    ("error_400_invalid_request.json", 400, openai.BadRequestError, "effort level 'xhigh'"),
    ("error_404_not_found.json", 404, openai.NotFoundError, "model: claude-sonet-4-5"),
])
def test_anthropic_refusals_reach_the_client_with_their_status(sdk, claude, name, status, error, says):
    claude.serve_fixture(name, status=status)
    for stream in (False, True):
        with pytest.raises(error) as caught:
            sdk.chat.completions.create(model="claude-model", messages=[{"role": "user", "content": "hi"}],
                                        stream=stream)
        body = caught.value.body
        assert set(body) == {"message", "type", "param", "code"} and says in body["message"]
    assert len(claude.received) == 2  # not retried elsewhere: the request itself was refused


def test_rate_limit_with_retry_after_reaches_the_client(gateway, claude):
    body = b'{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded"}}'
    claude.serve(Reply(body, status=429, headers={"retry-after": "12"}))
    response = httpx.post(f"{gateway.base_url}/chat/completions", timeout=10,
                          json={"model": "claude-alone", "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 429 and response.headers["retry-after"] == "12"
    assert response.json()["error"]["type"] == "rate_limit_error"


def test_n_greater_than_one_is_a_400_naming_the_feature_and_the_provider(sdk, claude):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="claude-alone", n=2, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.body["code"] == "unsupported_feature"
    assert "n > 1" in caught.value.body["message"] and "'claude' (anthropic)" in caught.value.body["message"]
    assert claude.received == []


def test_n_greater_than_one_falls_back_to_a_provider_that_can(sdk, claude):
    completion = sdk.chat.completions.create(model="claude-model", n=2, messages=[{"role": "user", "content": "a"}])
    assert len(completion.choices) == 2 and claude.received == []


@pytest.mark.parametrize("reply", [
    Reply(fixture("messages_response.recorded.json") if ANTHROPIC.exists() else b"", cut_after=200),
    Reply(b"<html>bad gateway</html>", content_type="text/html"),
    Reply(fixture("messages_stream_text.recorded.sse") if ANTHROPIC.exists() else b"", cut_after=700,
          content_type="text/event-stream"),
])
@pytest.mark.parametrize("stream", [False, True])
def test_malformed_upstream_answers_become_openai_errors_never_hangs(gateway, claude, reply, stream):
    claude.serve(reply)
    response = httpx.post(f"{gateway.base_url}/chat/completions", timeout=10, json={
        "model": "claude-alone", "messages": [{"role": "user", "content": "hi"}], "stream": stream})
    # Only the cut stream has already handed out its first chunk (committed): an error event ends it.
    assert response.status_code == (200 if stream and reply.content_type == "text/event-stream" else 502)
    if response.status_code == 200:
        last = json.loads(response.text.strip().rsplit("data: ", 1)[1])
        assert set(last["error"]) == {"message", "type", "param", "code"}
        assert "[DONE]" not in response.text
    else:
        assert response.status_code == 502 and set(response.json()["error"]) == {"message", "type", "param", "code"}
        assert "Provider 'claude'" in response.json()["error"]["message"]


def test_images_and_json_mode_reach_anthropic_translated(sdk, claude):
    claude.serve_fixture("messages_response.recorded.json")
    sdk.chat.completions.create(model="claude-model", response_format={"type": "json_object"}, messages=[
        {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}}]},
    ], tools=PELICAN_TOOL, tool_choice={"type": "function", "function": {"name": "pelican_name_generator"}})
    sent = claude.last.body
    assert sent["messages"][0]["content"][1] == {
        "type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"}}
    assert "JSON" in sent["system"] and sent["tool_choice"] == {"type": "tool", "name": "pelican_name_generator"}


def test_an_error_event_after_the_answer_started_ends_the_stream_with_an_openai_error(gateway, claude):
    recorded = fixture("messages_stream_text.recorded.sse")
    started = recorded.split(b"event: content_block_stop")[0]  # message_start and the text deltas
    claude.serve(Reply(started + fixture("messages_stream_error_event.sse"), content_type="text/event-stream"))
    response = httpx.post(f"{gateway.base_url}/chat/completions", timeout=10, json={
        "model": "claude-model", "messages": [{"role": "user", "content": "hi"}], "stream": True})
    data = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: {")]
    assert "".join(d["choices"][0]["delta"].get("content") or "" for d in data[:-1]) == "- Captain\n- Scoop"
    assert data[-1]["error"]["code"] == "overloaded_error" and "Overloaded" in data[-1]["error"]["message"]
    assert "[DONE]" not in response.text
    [row] = usage_rows(1)
    assert (row.status, row.provider) == ("error", "claude")
