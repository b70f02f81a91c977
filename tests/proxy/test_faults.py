"""Fault injection: each way a provider misbehaves, what the client sees, how long it takes, what is recorded.

The failing model (`smart-model`) has a fallback (`backup-model`) on the same loopback upstream; the
upstream's switches make only the failing model misbehave. Provider read timeout: 2 s (tests/conftest.py).
"""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from tests.conftest import usage_rows

BODY = {"model": "smart-model", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(("fault", "first_status"), [
    ({"status": 500}, 500),
    ({"status": 502}, 502),
    ({"status": 503}, 503),
    ({"status": 529}, 529),
    ({"status": 429}, 429),
    ({"mode": "drop"}, None),  # connection closed without an answer
    ({"mode": "drop_mid_stream"}, None),  # a body cut short: truncated JSON
    ({"mode": "empty_200"}, None),
    ({"mode": "error_in_200"}, None),
    ({"mode": "hang"}, None),  # nothing for longer than the read timeout
])
def test_non_streaming_faults_fall_back_within_the_timeout(sdk, gateway, upstream, fault, first_status):
    upstream.configure(models={"smart-upstream": fault})
    started = time.monotonic()
    raw = sdk.chat.completions.with_raw_response.create(**BODY)
    elapsed = time.monotonic() - started
    assert raw.parse().choices[0].message.content == "mock reply to: hi"
    assert raw.headers["x-gateway-model"] == "backup-model" and raw.headers["x-gateway-attempts"] == "2"
    assert elapsed < 2 + 1.5  # at most the provider's read timeout, plus the fallback's own answer
    [row] = usage_rows(1)
    assert row.status == "ok" and row.attempts == 2
    assert row.attempt_log[0]["status"] == first_status and row.attempt_log[0]["error"]


@pytest.mark.parametrize("fault", [
    {"status": 500}, {"status": 429}, {"mode": "drop"}, {"mode": "empty_200"}, {"mode": "error_in_200"},
    {"mode": "truncate_stream"}, {"mode": "drop_mid_stream"},
])
def test_streaming_faults_before_the_first_content_fall_back(gateway, upstream, fault):
    """truncate_stream / drop_mid_stream send a role chunk and deltas first: those are committed."""
    upstream.configure(models={"smart-upstream": fault})
    with httpx.stream("POST", f"{gateway.base_url}/chat/completions", json={**BODY, "stream": True},
                      timeout=10) as response:
        events = [block for block in response.read().decode().split("\n\n") if block]
    [row] = usage_rows(1)
    if fault.get("mode") in ("truncate_stream", "drop_mid_stream"):
        # Bytes already went out: the stream ends with an error event, never a cut answer with [DONE].
        assert json.loads(events[-1].removeprefix("data: "))["error"]["type"] == "upstream_error"
        assert "data: [DONE]" not in events and row.status == "error"
    else:
        assert events[-1] == "data: [DONE]" and row.model == "backup-model" and row.attempts == 2


def test_connection_refused_falls_back_fast(sdk, gateway, routing):
    from routing.models import Model, ModelFallback, Provider

    dead = Provider.objects.create(name="dead", base_url="http://127.0.0.1:9/v1", api_key_env="MOCKAI_API_KEY")
    down = Model.objects.create(public_id="down-model", provider=dead, upstream_name="down")
    ModelFallback.objects.create(model=down, fallback=routing.models["backup-model"])
    gateway.sync_config()
    started = time.monotonic()
    raw = sdk.chat.completions.with_raw_response.create(model="down-model", messages=[{"role": "user", "content": "x"}])
    assert time.monotonic() - started < 1.5
    assert raw.headers["x-gateway-model"] == "backup-model"
    [row] = usage_rows(1)
    assert row.attempt_log[0]["provider"] == "dead" and row.attempt_log[0]["status"] is None


def test_rate_limit_without_fallback_passes_retry_after(sdk, gateway, upstream):
    upstream.configure(models={"fast-upstream": {"status": 429}})
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(model="fast-model", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.body["type"] == "rate_limit_error"


def test_an_upstream_404_for_one_model_does_not_poison_others(sdk, gateway, upstream):
    upstream.configure(models={"fast-upstream": {"status": 404}})
    for _ in range(3):
        with pytest.raises(openai.NotFoundError) as caught:
            sdk.chat.completions.create(model="fast-model", messages=[{"role": "user", "content": "hi"}])
        assert "mockai" in caught.value.body["message"]
        # The same provider keeps serving its other models, and the connection pool stays healthy.
        answer = sdk.chat.completions.create(model="smart-model", messages=[{"role": "user", "content": "hi"}])
        assert answer.choices[0].message.content == "mock reply to: hi"
    upstream.reset()
    assert sdk.chat.completions.create(model="fast-model", messages=[{"role": "user", "content": "ok"}]).choices


def test_slow_drip_longer_than_the_read_timeout_ends_the_stream_with_an_error(gateway, upstream):
    upstream.configure(models={"fast-upstream": {"chunks": 3, "chunk_delay_ms": 3000}})
    started = time.monotonic()
    with httpx.stream("POST", f"{gateway.base_url}/chat/completions", timeout=20,
                      json={"model": "fast-model", "stream": True, "messages": [{"role": "user", "content": "x"}]},
                      ) as response:
        events = [block for block in response.read().decode().split("\n\n") if block]
    assert time.monotonic() - started < 2 + 1.5  # the idle timeout, not the 9 s the drip would take
    assert "error" in json.loads(events[-1].removeprefix("data: "))
    [row] = usage_rows(1)
    assert row.status == "error" and row.error_type == "upstream_timeout"
