"""Chat completions through a real gateway process, with the official openai SDK as the client."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import httpx
import pytest

from tests.conftest import MOCK_KEY, usage_rows


def test_non_streaming_reply_passes_through_with_gateway_headers(sdk, gateway, upstream):
    raw = sdk.chat.completions.with_raw_response.create(
        model="smart-model", messages=[{"role": "user", "content": "hello there"}], temperature=0.2, seed=7,
        extra_body={"custom_vendor_field": {"keep": True}},
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "mock reply to: hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    assert raw.headers["x-gateway-model"] == "smart-model"
    assert raw.headers["x-gateway-provider"] == "mockai"
    assert raw.headers["x-gateway-attempts"] == "1"
    # The gateway's own time: more than nothing, and well under the whole request's time.
    assert 0 < float(raw.headers["x-gateway-overhead-ms"]) < raw.elapsed.total_seconds() * 1000

    sent = upstream.stats()["log"][-1]
    assert sent["body"]["model"] == "smart-upstream"  # the public id became the provider's name
    assert sent["body"]["temperature"] == 0.2 and sent["body"]["seed"] == 7
    assert sent["body"]["custom_vendor_field"] == {"keep": True}  # unknown fields are kept
    assert sent["headers"]["authorization"] == f"Bearer {MOCK_KEY}"

    [row] = usage_rows(1)
    assert (row.model, row.provider, row.upstream_model, row.requested_model) == (
        "smart-model", "mockai", "smart-upstream", "smart-model",
    )
    assert row.status == "ok" and row.status_code == 200 and row.attempts == 1 and not row.stream
    assert row.prompt_tokens == completion.usage.prompt_tokens
    assert row.completion_tokens == completion.usage.completion_tokens
    expected_cost = (Decimal(row.prompt_tokens) * 3 + Decimal(row.completion_tokens) * 15) / 1_000_000
    assert row.cost == expected_cost.quantize(Decimal("0.00000001"))
    assert 0 < row.overhead_ms < row.latency_ms


def test_streaming_forwards_chunks_as_they_arrive(sdk, gateway, upstream):
    upstream.configure(default={"chunks": 6, "chunk_delay_ms": 150})
    started = time.perf_counter()
    arrivals = []
    text = []
    stream = sdk.chat.completions.create(
        model="fast-model", messages=[{"role": "user", "content": "count slowly please"}], stream=True
    )
    for chunk in stream:
        arrivals.append(time.perf_counter() - started)
        if chunk.choices and chunk.choices[0].delta.content:
            text.append(chunk.choices[0].delta.content)
        assert chunk.usage is None  # the client did not ask for usage: the usage chunk is hidden
    assert "".join(text) == "mock reply to: count slowly please"
    # The first chunk came long before the last: nothing was buffered.
    assert arrivals[-1] - arrivals[0] > 0.6
    assert arrivals[0] < 0.5

    sent = upstream.stats()["log"][-1]["body"]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    [row] = usage_rows(1)
    assert row.stream and row.status == "ok"
    assert row.completion_tokens > 0 and row.prompt_tokens > 0  # counted from the hidden usage chunk
    assert row.ttft_ms is not None and row.ttft_ms < row.latency_ms


def test_streaming_usage_chunk_forwarded_when_asked(sdk, gateway):
    chunks = list(
        sdk.chat.completions.create(
            model="fast-model", messages=[{"role": "user", "content": "hi"}], stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    [row] = usage_rows(1)
    assert row.total_tokens == chunks[-1].usage.total_tokens


def test_raw_stream_ends_with_done(gateway):
    with httpx.stream(
        "POST", f"{gateway.base_url}/chat/completions",
        json={"model": "fast-model", "messages": [{"role": "user", "content": "hi"}], "stream": True},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        body = response.read().decode()
    events = [block for block in body.split("\n\n") if block]
    assert events[-1] == "data: [DONE]"
    assert all(event.startswith("data: ") for event in events)


def test_tool_calls_both_ways(sdk, gateway):
    tools = [{
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }]
    messages = [{"role": "user", "content": "weather in Paris?"}]
    first = sdk.chat.completions.create(model="smart-model", messages=messages, tools=tools)
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "test"}

    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"},
    ]
    second = sdk.chat.completions.create(model="smart-model", messages=messages, tools=tools)
    assert "sunny, 21C" in second.choices[0].message.content

    # Streamed tool call: the SDK reassembles the argument deltas.
    streamed_args = ""
    for chunk in sdk.chat.completions.create(model="smart-model", messages=messages[:1], tools=tools, stream=True):
        for delta_call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            streamed_args += delta_call.function.arguments or ""
    assert json.loads(streamed_args) == {"city": "test"}


def test_json_mode_passes_through(sdk, gateway, upstream):
    completion = sdk.chat.completions.create(
        model="smart-model", messages=[{"role": "user", "content": "as json"}],
        response_format={"type": "json_object"},
    )
    assert json.loads(completion.choices[0].message.content) == {"reply": "mock reply to: as json"}
    assert upstream.stats()["log"][-1]["body"]["response_format"] == {"type": "json_object"}


def test_auto_routes_by_role(sdk, gateway):
    raw = sdk.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "design it"}], extra_body={"role": "architect"},
    )
    assert raw.headers["x-gateway-model"] == "smart-model"
    assert raw.headers["x-gateway-role"] == "architect"

    raw = sdk.chat.completions.with_raw_response.create(
        model="auto:debugging", messages=[{"role": "user", "content": "x"}]
    )
    assert raw.headers["x-gateway-model"] == "backup-model"

    raw = sdk.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "x"}], extra_headers={"X-Gateway-Role": "architect"},
    )
    assert raw.headers["x-gateway-model"] == "smart-model"

    raw = sdk.chat.completions.with_raw_response.create(model="auto", messages=[{"role": "user", "content": "x"}])
    assert raw.headers["x-gateway-role"] == "general" and raw.headers["x-gateway-model"] == "fast-model"

    raw = sdk.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "x"}],
        extra_body={"role": "architect", "conversation_id": "conv-42"},
    )
    rows = usage_rows(5)
    assert [row.role for row in rows] == ["architect", "debugging", "architect", "general", "architect"]
    assert rows[-1].conversation_id == "conv-42"


def test_pattern_route_goes_straight_to_the_provider(sdk, gateway, upstream):
    raw = sdk.chat.completions.with_raw_response.create(
        model="mockai/some-new-model", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-gateway-provider"] == "mockai"
    assert upstream.stats()["log"][-1]["body"]["model"] == "some-new-model"


def test_personal_profile_prefers_the_free_tier(sdk, gateway, routing, second_upstream):
    from routing.models import RankingEntry, Role

    RankingEntry.objects.create(
        role=Role.objects.get(name="general"), model=routing.models["free-model"], position=5, kind="free_tier"
    )
    gateway.sync_config()
    raw = sdk.chat.completions.with_raw_response.create(model="auto", messages=[{"role": "user", "content": "x"}])
    assert raw.headers["x-gateway-model"] == "free-model"
    assert second_upstream.stats()["requests"] == 1
    # The work profile has no free tier: the ranking's own order applies.
    raw = sdk.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "x"}], extra_headers={"X-Gateway-Profile": "work"}
    )
    assert raw.headers["x-gateway-model"] == "fast-model"


@pytest.mark.parametrize("failure", [
    {"status": 500}, {"status": 503}, {"status": 429}, {"mode": "hang"}, {"mode": "drop"},
])
def test_fallback_before_first_byte(sdk, gateway, upstream, failure):
    upstream.configure(models={"smart-upstream": failure})
    raw = sdk.chat.completions.with_raw_response.create(
        model="smart-model", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.parse().choices[0].message.content == "mock reply to: hi"
    assert raw.headers["x-gateway-model"] == "backup-model"
    assert raw.headers["x-gateway-attempts"] == "2"
    [row] = usage_rows(1)
    assert row.attempts == 2 and row.model == "backup-model" and row.status == "ok"
    assert [attempt["model"] for attempt in row.attempt_log] == ["smart-model", "backup-model"]
    assert row.attempt_log[0]["status"] == failure.get("status")
    assert row.attempt_log[1]["status"] == 200


def test_streaming_fallback_before_first_byte(sdk, gateway, upstream):
    upstream.configure(models={"fast-upstream": {"status": 502}})
    text = "".join(
        chunk.choices[0].delta.content or ""
        for chunk in sdk.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        if chunk.choices
    )
    assert text == "mock reply to: hi"
    [row] = usage_rows(1)
    assert row.model == "backup-model" and row.attempts == 2 and row.stream


def test_all_candidates_failing_gives_502_with_each_attempt(sdk, gateway, upstream):
    import openai

    upstream.configure(default={"status": 500})
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model="smart-model", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 502
    error = caught.value.body
    assert error["type"] == "upstream_error" and error["code"] == "all_candidates_failed"
    assert "smart-model" in error["message"] and "backup-model" in error["message"]
    assert caught.value.response.headers["x-gateway-attempts"] == "2"
    [row] = usage_rows(1)
    assert row.status == "error" and row.status_code == 502 and row.attempts == 2


def test_failure_after_first_byte_ends_stream_with_error_event(gateway, upstream):
    upstream.configure(models={"fast-upstream": {"mode": "drop_mid_stream"}})
    with httpx.stream(
        "POST", f"{gateway.base_url}/chat/completions",
        json={"model": "fast-model", "messages": [{"role": "user", "content": "hi"}], "stream": True},
    ) as response:
        body = response.read().decode()
    events = [block for block in body.split("\n\n") if block]
    last = json.loads(events[-1].removeprefix("data: "))
    assert last["error"]["type"] == "upstream_error"
    assert "data: [DONE]" not in events  # never dressed up as a complete answer
    [row] = usage_rows(1)
    assert row.status == "error"


def test_admin_edit_of_ranking_takes_effect_on_next_request(sdk, gateway, routing):
    from django.contrib.auth.models import User

    User.objects.create_superuser("ops", "ops@example.com", "a-long-test-password")
    raw = sdk.chat.completions.with_raw_response.create(model="auto", messages=[{"role": "user", "content": "x"}])
    assert raw.headers["x-gateway-model"] == "fast-model"

    # Log in to the admin of the running gateway and move the primary behind the fallback.
    with httpx.Client(base_url=gateway.url, follow_redirects=True) as browser:
        login = browser.get("/admin/login/")
        token = browser.cookies["csrftoken"]
        browser.post("/admin/login/", data={
            "username": "ops", "password": "a-long-test-password", "csrfmiddlewaretoken": token,
            "next": "/admin/",
        }, headers={"referer": f"{gateway.url}/admin/login/"})
        assert login.status_code == 200
        from routing.models import RankingEntry, Role

        role = Role.objects.get(name="general")
        page = browser.get(f"/admin/routing/role/{role.pk}/ranking/")
        assert page.status_code == 200
        response = browser.post(f"/admin/routing/role/{role.pk}/ranking/", data={
            "csrfmiddlewaretoken": browser.cookies["csrftoken"], "order": ["backup-model", "fast-model"],
            "kind:backup-model": "primary", "kind:fast-model": "fallback", "reason:fast-model": "demoted by ops",
        }, headers={"referer": f"{gateway.url}/admin/"})
        assert response.status_code == 200
    entry = RankingEntry.objects.get(role__name="general", model__public_id="fast-model")
    assert entry.position == 1 and entry.reason == "demoted by ops"

    # The very next request uses the edited ranking: no restart.
    raw = sdk.chat.completions.with_raw_response.create(model="auto", messages=[{"role": "user", "content": "x"}])
    assert raw.headers["x-gateway-model"] == "backup-model"


def test_client_disconnect_mid_stream_cancels_upstream_and_is_recorded(gateway, upstream):
    import socket

    upstream.configure(default={"chunks": 50, "chunk_delay_ms": 100})
    idle = upstream.stats()["open_connections"]  # the gateway's pooled keep-alive connections
    host, port = gateway.url.removeprefix("http://").split(":")
    body = json.dumps({"model": "fast-model", "stream": True, "messages": [{"role": "user", "content": "long"}]})
    with socket.create_connection((host, int(port))) as conn:
        conn.sendall(
            f"POST /v1/chat/completions HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n{body}".encode()
        )
        assert b"data: " in conn.recv(65536)  # the stream has started
        streaming = upstream.stats()["open_connections"]
    # The gateway notices, cancels the upstream request (closing its connection) and records it.
    deadline = time.monotonic() + 5
    while upstream.stats()["open_connections"] >= streaming and time.monotonic() < deadline:
        time.sleep(0.05)
    assert upstream.stats()["open_connections"] < streaming and upstream.stats()["open_connections"] <= idle
    [row] = usage_rows(1)
    assert row.status == "client_closed" and row.stream
    assert row.latency_ms < 4000  # not the 5 s the whole answer would have taken
