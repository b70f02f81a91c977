"""Anthropic's event stream → OpenAI chunks, and the provider's HTTP behaviour through a handler seam."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from providers.anthropic import AnthropicProvider
from providers.anthropic.errors import AnthropicAPIError, MalformedResponse
from providers.anthropic.stream import StreamTranslator
from providers.base import ProviderError
from providers.http import UpstreamConnectError
from providers.specs import ModelSpec, ProviderSpec
from providers.sse import SSEDecoder
from tests.providers.anthropic_loopback import ANTHROPIC, fixture
from tests.providers.handler_client import HandlerClient

SPEC = ProviderSpec(name="claude", kind="anthropic", base_url="https://anthropic.test", tier="paid",
                    timeout_seconds=5, enabled=True, key_env="ANTHROPIC_API_KEY", api_key="sk-ant-secret-123")
MODEL = ModelSpec(public_id="claude-x", provider="claude", upstream_name="claude-sonnet-4-5")
BODY = {"model": "claude-x", "messages": [{"role": "user", "content": "hi"}]}


def translate(raw: bytes, json_tool: str | None = None) -> list[dict]:
    translator = StreamTranslator(created=1, json_tool=json_tool)
    chunks = []
    for data in SSEDecoder().feed(raw + b"\n\n"):
        chunks += translator.feed(json.loads(data))
    assert translator.finished
    return chunks


def deltas(chunks: list[dict]) -> list:
    return [(c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) if c["choices"] else ("usage", c["usage"])
            for c in chunks]


def test_recorded_text_stream():
    chunks = translate(fixture("messages_stream_text.recorded.sse"))
    assert {c["id"] for c in chunks} == {"msg_017A4s3HAsrqf5d2WvBmrpLr"}
    assert {c["model"] for c in chunks} == {"claude-sonnet-4-5-20250929"}
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert deltas(chunks) == [
        ({"role": "assistant", "content": ""}, None),
        ({"content": "-"}, None), ({"content": " Captain"}, None), ({"content": "\n- Sc"}, None),
        ({"content": "oop"}, None),
        ({}, "stop"),
        ("usage", {"prompt_tokens": 17, "completion_tokens": 10, "total_tokens": 27,
                   "prompt_tokens_details": {"cached_tokens": 0}}),
    ]


def test_recorded_parallel_tool_use_stream_numbers_the_calls():
    assert deltas(translate(fixture("messages_stream_tool_use.recorded.sse")))[:-1] == [
        ({"role": "assistant", "content": None, "tool_calls": [{
            "index": 0, "id": "toolu_01LtHJmixrs9NcWQkK8hu8hj", "type": "function",
            "function": {"name": "pelican_name_generator", "arguments": ""}}]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}, None),
        ({"tool_calls": [{"index": 1, "id": "toolu_01N8a4jWyf116qKTMqKKmjyt", "type": "function",
                          "function": {"name": "pelican_name_generator", "arguments": ""}}]}, None),
        ({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}, None),
        ({}, "tool_calls"),
    ]


def test_sdk_tool_use_fixture_streams_arguments_incrementally_after_text():
    chunks = deltas(translate(fixture("sdk_fixture_tool_use_response.sse")))
    assert chunks[:3] == [({"role": "assistant", "content": ""}, None), ({"content": "I"}, None),
                          ({"content": "'ll check the current weather in Paris for you."}, None)]
    assert chunks[3][0]["tool_calls"][0]["id"] == "toolu_01NRLabsLyVHZPKxbKvkfSMn"
    pieces = [c[0]["tool_calls"][0]["function"]["arguments"] for c in chunks[4:8]]
    assert pieces == ['{"locati', 'on": "P', "ar", 'is"}'] and json.loads("".join(pieces)) == {"location": "Paris"}
    assert chunks[8:] == [({}, "tool_calls"), ("usage", {"prompt_tokens": 377, "completion_tokens": 65,
                                                         "total_tokens": 442,
                                                         "prompt_tokens_details": {"cached_tokens": 0}})]


def test_max_tokens_mid_tool_call_ends_with_length():
    chunks = deltas(translate(fixture("sdk_fixture_incomplete_partial_json_response.sse")))
    assert chunks[-2] == ({}, "length")
    assert chunks[-1][1]["completion_tokens"] == 124


def test_thinking_blocks_are_skipped_and_json_tool_streams_as_content():
    events = [
        {"type": "message_start", "message": {"id": "msg_1", "model": "c", "usage": {"input_tokens": 3}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hmm"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "x"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "t", "name": "out",
                                                                      "input": {}}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"a":'}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "1}"}},
        {"type": "content_block_stop", "index": 1},
        {"type": "some_future_event"},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    ]
    raw = b"".join(b"event: x\ndata: " + json.dumps(e).encode() + b"\n\n" for e in events)
    assert deltas(translate(raw, json_tool="out")) == [
        ({"role": "assistant", "content": ""}, None), ({"content": '{"a":'}, None), ({"content": "1}"}, None),
        ({}, "stop"), ("usage", {"prompt_tokens": 3, "completion_tokens": 9, "total_tokens": 12}),
    ]


def test_error_event_and_out_of_order_events_raise():
    with pytest.raises(AnthropicAPIError) as caught:
        translate(fixture("messages_stream_error_event.sse"))
    assert caught.value.error_type == "overloaded_error"
    with pytest.raises(MalformedResponse):
        StreamTranslator(created=1).feed({"type": "content_block_delta", "index": 0, "delta": {}})


# --- the provider over HTTP (handler seam) ----------------------------------------------------------


def run(handler, call):
    async def go():
        return await call(AnthropicProvider(SPEC, HandlerClient(handler)))
    return asyncio.run(go())


def pieces(body: bytes, size: int):
    async def stream():
        for start in range(0, len(body), size):
            yield body[start:start + size]
    return stream()


async def collect(provider: AnthropicProvider, body: dict = BODY) -> list[dict]:
    stream = await provider.stream(body, MODEL)
    try:
        return [event.chunk async for event in stream]
    finally:
        await stream.aclose()


@pytest.mark.parametrize("size", [1, 7, 64, 100000])
@pytest.mark.parametrize("name", ["messages_stream_text.recorded.sse", "messages_stream_tool_use.recorded.sse",
                                  "messages_stream_after_tool_result.recorded.sse", "sdk_fixture_basic_response.sse",
                                  "sdk_fixture_tool_use_response.sse"])
def test_stream_is_independent_of_how_bytes_arrive(name, size):
    raw = fixture(name)
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=pieces(raw, size))

    chunks = run(handler, collect)
    expected = translate(raw)
    assert [{**c, "created": 0} for c in chunks] == [{**c, "created": 0} for c in expected]
    [request] = seen
    assert str(request.url) == "https://anthropic.test/v1/messages"
    assert request.headers["x-api-key"] == "sk-ant-secret-123"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert json.loads(request.content)["stream"] is True


def test_base_url_ending_in_v1_is_accepted():
    seen = []

    def handler(request):
        seen.append(str(request.url))
        return httpx.Response(200, content=fixture("messages_response.recorded.json"))

    spec = ProviderSpec(**{**{f: getattr(SPEC, f) for f in SPEC.__slots__}, "base_url": "https://a.test/v1"})

    async def go():
        return await AnthropicProvider(spec, HandlerClient(handler)).complete(BODY, MODEL)
    completion = asyncio.run(go())
    assert seen == ["https://a.test/v1/messages"] and completion.usage.total_tokens == 30


@pytest.mark.parametrize(("raw", "code"), [
    (fixture("messages_stream_text.recorded.sse").rsplit(b"event: message_stop", 1)[0], "upstream_stream_incomplete"),
    (fixture("messages_stream_text.recorded.sse")[:700], "upstream_stream_incomplete"),  # cut mid-event
    (b"", "upstream_stream_incomplete"),
    (b'data: {"type": "message_start", "message": {"id": "m"}}\n\ndata: {not json}\n\n', "upstream_bad_stream"),
    (fixture("messages_stream_error_event.sse"), "overloaded_error"),
] if ANTHROPIC.exists() else [])
def test_broken_streams_raise_retryable_provider_errors(raw, code):
    def handler(request):
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=pieces(raw, 50))

    with pytest.raises(ProviderError) as caught:
        run(handler, collect)
    assert caught.value.retryable and caught.value.code == code


@pytest.mark.parametrize(("name", "status", "retryable", "client_status", "code", "says"), [
    ("error_529_overloaded.json", 529, True, 502, "overloaded_error", "Overloaded"),
    ("error_529_overloaded_with_details.json", 529, True, 502, "overloaded_error", "req_011CYeT1GYt7Kg27RdtV9zeo"),
    ("error_400_invalid_request.json", 400, False, 400, "invalid_request_error", "effort level 'xhigh'"),
    ("error_404_not_found.json", 404, False, 404, "not_found_error", "model: claude-sonet-4-5"),
    ("error_529_overloaded.json", 401, True, 502, "upstream_auth_failed", "credentials"),
])
def test_http_errors_map_to_provider_errors(name, status, retryable, client_status, code, says):
    def handler(request):
        return httpx.Response(status, content=fixture(name))

    for call in (lambda p: p.complete(BODY, MODEL), collect):
        with pytest.raises(ProviderError) as caught:
            run(handler, call)
        error = caught.value
        assert (error.retryable, error.status, error.code) == (retryable, client_status, code)
        assert says in error.message and error.upstream_status == status


def test_429_is_retryable_and_keeps_retry_after():
    body = b'{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded"}}'

    def handler(request):
        return httpx.Response(429, headers={"retry-after": "7"}, content=body)

    with pytest.raises(ProviderError) as caught:
        run(handler, lambda p: p.complete(BODY, MODEL))
    assert (caught.value.retryable, caught.value.status, caught.value.retry_after) == (True, 429, "7")
    assert caught.value.error_type == "rate_limit_error"


@pytest.mark.parametrize("raw", [b'{"id": "msg_1", "type": "mess', b"", b'{"type": "message"}', b"<html>"])
def test_malformed_answers_are_retryable_errors(raw):
    with pytest.raises(ProviderError) as caught:
        run(lambda request: httpx.Response(200, content=raw), lambda p: p.complete(BODY, MODEL))
    assert caught.value.retryable and "Provider 'claude'" in caught.value.message


def test_unsupported_feature_fails_before_any_network_call():
    def handler(request):
        raise AssertionError("no request may be sent")

    for extra in ({"n": 3}, {"logprobs": True}):
        with pytest.raises(ProviderError) as caught:
            run(handler, lambda p, extra=extra: p.complete({**BODY, **extra}, MODEL))
        error = caught.value
        assert (error.retryable, error.status, error.code) == (True, 400, "unsupported_feature")
        assert "is not supported by provider 'claude' (anthropic)" in error.message


def test_the_key_never_appears_in_an_error_message():
    body = b'{"type":"error","error":{"type":"invalid_request_error","message":"bad key sk-ant-secret-123"}}'
    with pytest.raises(ProviderError) as caught:
        run(lambda request: httpx.Response(400, content=body), lambda p: p.complete(BODY, MODEL))
    assert "sk-ant-secret-123" not in caught.value.message and "[redacted]" in caught.value.message


def test_connection_failure_is_retryable():
    def handler(request):
        raise UpstreamConnectError("refused")

    with pytest.raises(ProviderError) as caught:
        run(handler, collect)
    assert caught.value.retryable and caught.value.code == "upstream_unreachable"
