"""The mock OpenAI upstream, exercised the way the gateway uses it: real HTTP, httpx and the
official `openai` SDK as clients. Needs no database."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from mock_upstream import MOCK_MODELS, MockUpstream, start_in_thread
from tests.fixture_files import WIRE

ROOT = Path(__file__).resolve().parents[2]

FIXTURES = WIRE / "openai"
USER = [
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": "What is the capital?"},
]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_temperature",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
            "additionalProperties": False,
        },
    },
}


@pytest.fixture(scope="module")
def upstream():
    up = start_in_thread(host="127.0.0.1", port=0)
    yield up
    up.stop()


@pytest.fixture(autouse=True)
def _fresh(upstream):
    upstream.reset()


@pytest.fixture
def sdk(upstream):
    with openai.OpenAI(base_url=upstream.base_url, api_key="sk-test", max_retries=0, timeout=5) as client:
        yield client


@pytest.fixture
def http(upstream):
    with httpx.Client(base_url=upstream.base_url, timeout=5) as client:
        yield client


def chat(http: httpx.Client, **body) -> httpx.Response:
    return http.post("/chat/completions", json={"model": "mock-gpt", "messages": USER, **body})


def sse_data(text: str) -> list[str]:
    return [line[len("data: ") :] for line in text.split("\n\n") if line.startswith("data: ")]


def stream_chunks(http: httpx.Client, **body) -> tuple[httpx.Response, list]:
    with http.stream(
        "POST", "/chat/completions", json={"model": "mock-gpt", "messages": USER, "stream": True, **body}
    ) as r:
        r.read()
    data = sse_data(r.text)
    return r, [json.loads(d) if d != "[DONE]" else d for d in data]


def key_order(obj):
    """Nested key order of a JSON value (lists by their first item): compares shapes, not values."""
    if isinstance(obj, dict):
        return [(k, key_order(v)) for k, v in obj.items()]
    if isinstance(obj, list):
        return [key_order(obj[0])] if obj else []
    return None


def wait_for(predicate, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def raw_exchange(port: int, data: bytes, *, then: bytes = b"") -> bytes:
    """Send `data` (and `then` once something came back), read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.sendall(data)
        received = b""
        if then:
            received = sock.recv(65536)
            sock.sendall(then)
        while chunk := sock.recv(65536):
            received += chunk
    return received


# -- replies ---------------------------------------------------------------------------------


def test_non_streaming_reply_parses_with_the_sdk(sdk):
    reply = sdk.chat.completions.create(model="mock-gpt", messages=USER)

    assert reply.id.startswith("chatcmpl-mock-")
    assert reply.object == "chat.completion"
    assert reply.model == "mock-gpt"
    assert reply.system_fingerprint
    choice = reply.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "mock reply to: What is the capital?"
    assert choice.message.refusal is None
    assert choice.finish_reason == "stop"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (7, 7, 14)


def test_non_streaming_body_has_openais_key_order(http):
    documented = json.loads((FIXTURES / "doc_chat_completion.json").read_text())
    body = chat(http).json()

    assert body.pop("system_fingerprint") == "fp_mock"
    assert key_order(body) == key_order(documented)


def test_text_parts_are_joined_and_n_gives_n_choices(sdk):
    parts = [
        {"type": "text", "text": "Hello"},
        {"type": "image_url", "image_url": {"url": "x"}},
        {"type": "text", "text": "world"},
    ]
    reply = sdk.chat.completions.create(model="mock-gpt", messages=[{"role": "user", "content": parts}], n=3)

    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert {c.message.content for c in reply.choices} == {"mock reply to: Hello world"}
    assert reply.usage.completion_tokens == 3 * 5


def test_json_mode_and_json_schema(sdk):
    as_object = sdk.chat.completions.create(model="mock-gpt", messages=USER, response_format={"type": "json_object"})
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
        "required": ["answer", "confidence"],
    }
    as_schema = sdk.chat.completions.create(
        model="mock-gpt",
        messages=USER,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "a", "schema": schema, "strict": True},
        },
    )

    assert json.loads(as_object.choices[0].message.content) == {"reply": "mock reply to: What is the capital?"}
    assert json.loads(as_schema.choices[0].message.content) == {
        "answer": "mock reply to: What is the capital?",
        "confidence": 1,
    }


def test_tools_give_a_tool_call(sdk):
    reply = sdk.chat.completions.create(model="mock-gpt", messages=USER, tools=[WEATHER_TOOL])

    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.id.startswith("call_mock_")
    assert call.type == "function"
    assert call.function.name == "get_temperature"
    assert json.loads(call.function.arguments) == {"city": "test", "days": 1}


def test_tool_choice_none_or_named(sdk):
    other = {
        "type": "function",
        "function": {"name": "other", "parameters": {"type": "object", "properties": {}}},
    }
    no_tool = sdk.chat.completions.create(model="mock-gpt", messages=USER, tools=[WEATHER_TOOL], tool_choice="none")
    named = sdk.chat.completions.create(
        model="mock-gpt",
        messages=USER,
        tools=[WEATHER_TOOL, other],
        tool_choice={"type": "function", "function": {"name": "other"}},
    )

    assert no_tool.choices[0].message.content == "mock reply to: What is the capital?"
    assert named.choices[0].message.tool_calls[0].function.name == "other"
    assert named.choices[0].message.tool_calls[0].function.arguments == "{}"


def test_reply_after_a_tool_result_mentions_it(sdk):
    request = json.loads((FIXTURES / "chat_completion_after_tool_result.recorded.request.json").read_text())

    reply = sdk.chat.completions.create(**request)

    assert reply.choices[0].finish_reason == "stop"
    assert reply.choices[0].message.content == "mock reply to tool result: 20.0"


# -- streaming -------------------------------------------------------------------------------


def test_stream_arrives_incrementally_through_the_sdk(upstream, sdk):
    upstream.configure(default={"chunks": 5, "chunk_delay_ms": 60})

    arrivals, deltas = [], []
    for chunk in sdk.chat.completions.create(model="mock-gpt", messages=USER, stream=True):
        arrivals.append(time.monotonic())
        deltas.append(chunk.choices[0])

    assert deltas[0].delta.role == "assistant" and deltas[0].delta.content == ""
    content = [d.delta.content for d in deltas[1:-1]]
    assert len(content) == 5
    assert "".join(content) == "mock reply to: What is the capital?"
    assert deltas[-1].finish_reason == "stop"
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert min(gaps) >= 0.04, gaps  # each delta was flushed on its own, not buffered to the end


def test_stream_wire_format(http):
    response, chunks = stream_chunks(http)

    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.text.endswith("data: [DONE]\n\n")
    assert chunks[-1] == "[DONE]"
    assert all("usage" not in c for c in chunks[:-1])
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None] * 6 + ["stop"]


def test_include_usage_adds_usage_null_and_a_final_usage_chunk(http):
    _, chunks = stream_chunks(http, stream_options={"include_usage": True})
    *events, usage_chunk, done = chunks

    assert done == "[DONE]"
    assert all(c["usage"] is None for c in events)
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["prompt_tokens"] == 7
    assert usage_chunk["usage"]["total_tokens"] == 14


def test_stream_chunks_have_the_recorded_key_order(http):
    recorded = [
        json.loads(d) for d in sse_data((FIXTURES / "chat_completion_stream_include_usage.sse").read_text())[:-1]
    ]
    _, chunks = stream_chunks(http, stream_options={"include_usage": True})

    assert key_order(chunks[0]) == key_order(recorded[0])  # role chunk
    assert key_order(chunks[1]) == key_order(recorded[1])  # content delta
    assert key_order(chunks[-3]) == key_order(recorded[-2])  # finish_reason
    assert key_order(chunks[-2]) == key_order(recorded[-1])  # usage


def test_streamed_tool_call_reassembles_in_the_sdk(sdk, http):
    recorded = [json.loads(d) for d in sse_data((FIXTURES / "chat_completion_stream_tool_calls.sse").read_text())[:-1]]
    name, arguments, finish = None, "", None
    stream = sdk.chat.completions.create(
        model="mock-gpt",
        messages=USER,
        tools=[WEATHER_TOOL],
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or ():
                name = call.function.name or name
                arguments += call.function.arguments or ""
            finish = choice.finish_reason or finish
    _, chunks = stream_chunks(http, tools=[WEATHER_TOOL], stream_options={"include_usage": True})

    assert name == "get_temperature"
    assert json.loads(arguments) == {"city": "test", "days": 1}
    assert finish == "tool_calls"
    assert key_order(chunks[0]) == key_order(recorded[0])
    assert key_order(chunks[1]) == key_order(recorded[1])
    assert len(chunks) == 1 + 5 + 1 + 1 + 1  # first, argument pieces, finish, usage, [DONE]


# -- failure switches ------------------------------------------------------------------------


def test_status_gives_an_openai_error(upstream, sdk):
    upstream.configure(default={"status": 500})

    with pytest.raises(openai.InternalServerError) as caught:
        sdk.chat.completions.create(model="mock-gpt", messages=USER)

    error = caught.value.response.json()["error"]
    assert list(error) == ["message", "type", "param", "code"]
    assert error["type"] == "server_error"


def test_429_has_retry_after(upstream, sdk):
    upstream.configure(models={"mock-gpt": {"status": 429}})

    with pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(model="mock-gpt", messages=USER)

    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.response.json()["error"]["code"] == "rate_limit_exceeded"


def test_error_body_override(upstream, http):
    upstream.configure(default={"status": 502, "error_body": "<html>Bad gateway</html>"})
    raw = chat(http)
    upstream.configure(default={"status": 400, "error_body": {"error": {"message": "custom", "type": "x"}}})
    custom = chat(http)

    assert (raw.status_code, raw.text) == (502, "<html>Bad gateway</html>")
    assert (custom.status_code, custom.json()["error"]["message"]) == (400, "custom")


def test_override_applies_only_to_its_model(upstream, http):
    upstream.configure(models={"broken": {"status": 503}})

    assert chat(http, model="broken").status_code == 503
    assert chat(http, model="mock-gpt").status_code == 200


def test_fail_times_fails_then_recovers(upstream, http):
    upstream.configure(models={"flaky": {"status": 503, "fail_times": 2}})

    statuses = [chat(http, model="flaky").status_code for _ in range(4)]
    upstream.configure(models={"flaky": {}})  # touching the model re-arms its counter
    rearmed = chat(http, model="flaky").status_code

    assert statuses == [503, 503, 200, 200]
    assert rearmed == 503


def test_fail_times_lets_sdk_retries_succeed(upstream):
    upstream.configure(default={"status": 500, "fail_times": 1})
    with openai.OpenAI(base_url=upstream.base_url, api_key="k", max_retries=1, timeout=5) as sdk:
        reply = sdk.chat.completions.create(model="mock-gpt", messages=USER)

    assert reply.choices[0].message.content.startswith("mock reply to:")
    assert upstream.stats()["requests"] == 2


def test_latency_delays_the_response(upstream, http):
    upstream.configure(default={"latency_ms": 200})

    started = time.monotonic()
    assert chat(http).status_code == 200
    assert time.monotonic() - started >= 0.19


def test_hang_until_the_client_gives_up(upstream):
    upstream.configure(default={"mode": "hang"})

    with httpx.Client(base_url=upstream.base_url, timeout=httpx.Timeout(5, read=0.3)) as client:
        with pytest.raises(httpx.ReadTimeout):
            chat(client)

    assert wait_for(lambda: upstream.stats()["open_connections"] == 0)


def test_drop_closes_without_a_response(upstream, http, sdk):
    upstream.configure(default={"mode": "drop"})

    with pytest.raises(httpx.RemoteProtocolError):
        chat(http)
    with pytest.raises(openai.APIConnectionError):
        sdk.chat.completions.create(model="mock-gpt", messages=USER)


def test_drop_mid_stream_cuts_the_connection(upstream, http):
    upstream.configure(default={"mode": "drop_mid_stream"})
    received = []

    with pytest.raises(httpx.RemoteProtocolError):
        with http.stream("POST", "/chat/completions", json={"model": "m", "messages": USER, "stream": True}) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                if line.startswith("data: "):
                    received.append(json.loads(line[6:]))
    with pytest.raises(httpx.RemoteProtocolError):
        chat(http)  # non-streaming: half the promised body, then the close

    assert [c["choices"][0]["delta"].get("content") for c in received] == ["", "mock", " reply"]


def test_truncate_stream_ends_cleanly_without_finish_or_done(upstream, http, sdk):
    upstream.configure(default={"mode": "truncate_stream"})

    response, chunks = stream_chunks(http)
    sdk_chunks = list(sdk.chat.completions.create(model="mock-gpt", messages=USER, stream=True))
    non_streaming = chat(http)

    assert response.status_code == 200
    assert len(chunks) == 3 and "[DONE]" not in chunks
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)
    assert [c.choices[0].finish_reason for c in sdk_chunks] == [None, None, None]
    assert non_streaming.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        non_streaming.json()


def test_empty_200(upstream, http):
    upstream.configure(default={"mode": "empty_200"})

    plain = chat(http)
    response, chunks = stream_chunks(http)

    assert (plain.status_code, plain.content) == (200, b"")
    assert (response.status_code, response.content, chunks) == (200, b"", [])


def test_error_in_200(upstream, http, sdk):
    upstream.configure(default={"mode": "error_in_200"})

    plain = chat(http)

    assert plain.status_code == 200
    assert plain.json()["error"]["type"] == "server_error"
    with pytest.raises(openai.APIError, match="server had an error"):
        list(sdk.chat.completions.create(model="mock-gpt", messages=USER, stream=True))


# -- protocol, endpoints, control ------------------------------------------------------------


def test_bad_json_and_missing_fields_are_400(http):
    bad_json = http.post("/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    no_messages = http.post("/chat/completions", json={"model": "mock-gpt"})
    no_model = http.post("/chat/completions", json={"messages": USER})

    assert bad_json.status_code == 400
    assert list(bad_json.json()["error"]) == ["message", "type", "param", "code"]
    assert (no_messages.status_code, no_messages.json()["error"]["param"]) == (400, "messages")
    assert no_model.status_code == 400


def test_odd_but_valid_requests_still_get_a_reply(http):
    odd_tool = {"type": "function", "function": {"name": "x", "parameters": "not a schema"}}

    tool = chat(http, tools=[odd_tool], tool_choice={"type": "function", "function": "x"})
    schema = chat(http, response_format={"type": "json_schema", "json_schema": "not an object"})
    messages = http.post("/chat/completions", json={"model": "m", "messages": [1, None]})

    assert tool.json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == "{}"
    assert json.loads(schema.json()["choices"][0]["message"]["content"]) == {
        "reply": "mock reply to: What is the capital?"
    }
    assert messages.json()["choices"][0]["message"]["content"] == "mock reply to: "


def test_an_internal_failure_is_a_500_not_a_silent_disconnect(http, monkeypatch):
    def broken(body):
        raise RuntimeError("boom")

    monkeypatch.setattr("mock_upstream.wire.decide_reply", broken)
    failed = chat(http)
    monkeypatch.undo()

    assert (failed.status_code, failed.json()["error"]["type"]) == (500, "server_error")
    assert chat(http).status_code == 200  # same keep-alive connection still serves


def test_unknown_path_is_404(http):
    assert http.get("/nope").status_code == 404
    assert http.get("/chat/completions").status_code == 405


def test_models_endpoints(http):
    chat(http, model="seen-model")

    listing = http.get("/models").json()
    one = http.get("/models/mock-gpt")
    unknown = http.get("/models/not-a-model")

    assert listing["object"] == "list"
    assert [m["id"] for m in listing["data"]] == [*MOCK_MODELS, "seen-model"]
    assert one.json() == {
        "id": "mock-gpt",
        "object": "model",
        "created": 1700000000,
        "owned_by": "mock-upstream",
    }
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "model_not_found")


def test_path_without_v1_prefix(upstream):
    with httpx.Client(base_url=f"http://127.0.0.1:{upstream.port}", timeout=5) as client:
        assert client.post("/chat/completions", json={"model": "m", "messages": USER}).status_code == 200
        assert client.get("/models").status_code == 200


def test_stats_count_requests_and_log_them(upstream, http):
    chat(http, model="a")
    chat(http, model="a")
    chat(http, model="b", metadata={"k": "v"})
    http.get("/models")  # not a chat request

    stats = upstream.stats()

    assert stats["requests"] == 3
    assert stats["by_model"] == {"a": 2, "b": 1}
    last = stats["log"][-1]
    assert last["path"] == "/v1/chat/completions"
    assert last["headers"]["content-type"] == "application/json"
    assert last["body"]["metadata"] == {"k": "v"}


def test_stats_count_open_connections(upstream):
    sockets = [socket.create_connection(("127.0.0.1", upstream.port)) for _ in range(3)]
    try:
        assert wait_for(lambda: upstream.stats()["open_connections"] == 3)
    finally:
        for sock in sockets:
            sock.close()
    assert wait_for(lambda: upstream.stats()["open_connections"] == 0)


def test_keep_alive_reuses_one_connection(upstream, http):
    for _ in range(20):
        assert chat(http).status_code == 200

    stats = upstream.stats()
    assert (stats["requests"], stats["connections_total"]) == (20, 1)


def test_connection_close_is_honoured(upstream):
    body = json.dumps({"model": "m", "messages": USER}).encode()
    request = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )

    response = raw_exchange(upstream.port, request)  # returns only because the server closed

    assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nconnection: close\r\n" in response


def test_pipelined_and_chunked_requests(upstream):
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "chunked body"}]}).encode()
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:])) + b"0\r\n\r\n"
    first = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked
    second = b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

    response = raw_exchange(upstream.port, first + second)

    assert response.count(b"HTTP/1.1 200 OK\r\n") == 2
    assert b"mock reply to: chunked body" in response
    assert upstream.stats()["log"][-1]["body"]["messages"][0]["content"] == "chunked body"


def test_expect_100_continue(upstream):
    body = json.dumps({"model": "m", "messages": USER}).encode()
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nConnection: close\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )

    response = raw_exchange(upstream.port, head, then=body)

    assert response.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")


def test_control_endpoints_over_http(upstream, http):
    root = f"http://127.0.0.1:{upstream.port}"
    configured = http.post(
        f"{root}/_mock/config", json={"default": {"latency_ms": 1}, "models": {"x": {"status": 418}}}
    )
    rejected = http.post(f"{root}/_mock/config", json={"default": {"no_such_knob": 1}})
    teapot = chat(http, model="x").status_code
    stats = http.get(f"{root}/_mock/stats").json()
    http.post(f"{root}/_mock/reset")
    after_reset = http.get(f"{root}/_mock/config").json()

    assert configured.status_code == 200
    assert configured.json()["models"] == {"x": {"status": 418}}
    assert rejected.status_code == 400 and "no_such_knob" in rejected.json()["error"]["message"]
    assert teapot == 418
    assert stats["requests"] == 1 and stats["open_connections"] >= 1
    assert after_reset["models"] == {} and after_reset["default"]["latency_ms"] == 0


def test_bad_knobs_raise_and_change_nothing(upstream):
    with pytest.raises(ValueError, match="mode"):
        upstream.configure(default={"status": 500}, models={"m": {"mode": "explode"}})
    with pytest.raises(ValueError, match="unknown knob"):
        start_in_thread(port=0, latency=5)

    assert upstream.configure()["default"]["status"] == 200


def test_start_defaults_and_per_model_knobs():
    with start_in_thread(port=0, status=503, models={"ok": {"status": 200}}) as up:
        with httpx.Client(base_url=up.base_url, timeout=5) as client:
            assert chat(client).status_code == 503
            assert chat(client, model="ok").status_code == 200
            up.reset()  # back to the constructor's knobs, not the built-in ones
            assert chat(client).status_code == 503


def test_asyncio_api():
    async def scenario() -> tuple[int, str]:
        async with MockUpstream("127.0.0.1", 0, chunks=2) as server:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as client:
                response = await client.post("/chat/completions", json={"model": "m", "messages": USER, "stream": True})
            return server.stats()["requests"], response.text

    requests, text = asyncio.run(scenario())

    assert requests == 1
    assert len(sse_data(text)) == 1 + 2 + 1 + 1


# -- running it ------------------------------------------------------------------------------


def _serve_and_probe(command: list[str]) -> tuple[str, int]:
    """Start a foreground server, read its announced base URL, call it, SIGTERM it."""
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [process.stdout.readline(), process.stdout.readline()]
        base_url = lines[1].removeprefix("Base URL: ").strip()
        assert base_url.startswith("http://127.0.0.1:"), (
            lines,
            process.stderr.read() if process.poll() else "",
        )
        assert httpx.get(f"{base_url}/models", timeout=5).status_code == 200
        process.send_signal(signal.SIGTERM)
        return base_url, process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stdout.close()
        process.stderr.close()


def test_python_dash_m_runs_until_sigterm():
    base_url, code = _serve_and_probe([sys.executable, "-m", "mock_upstream", "--port", "0"])

    assert base_url.endswith("/v1")
    assert code == 0


def test_management_command_runs_until_sigterm():
    script = (
        "import django; from django.conf import settings; settings.configure(); django.setup(); "
        "from routing.management.commands.mock_upstream import Command; "
        "Command().run_from_argv(['manage.py', 'mock_upstream', '--port', '0', '--chunks', '3'])"
    )

    base_url, code = _serve_and_probe([sys.executable, "-c", script])

    assert base_url.endswith("/v1")
    assert code == 0
