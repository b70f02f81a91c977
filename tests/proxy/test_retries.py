"""Retries on the same candidate: a model with one candidate whose upstream fails once still answers.

A gateway process of this module's own, with GATEWAY_RETRIES=2 and a short backoff (the shared test
gateway runs without retries, so that fallback tests see one try per candidate). `fast-model` has no
fallback: without retries, each of these faults would reach the client.
"""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from tests.conftest import dedicated_gateway, usage_rows

BODY = {"model": "fast-model", "messages": [{"role": "user", "content": "hi"}]}
ONCE = [
    pytest.param({"status": 500}, 500, id="500"),
    pytest.param({"status": 529}, 529, id="529-overloaded"),
    pytest.param({"status": 429}, 429, id="429-retry-after-1"),
    pytest.param({"mode": "reset"}, None, id="reset-before-the-answer"),
]


@pytest.fixture(scope="module")
def retrying_process(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock(), dedicated_gateway(
        tmp_path_factory.mktemp("retries"), GATEWAY_RETRIES="2", GATEWAY_RETRY_BASE_DELAY_SECONDS="0.05",
        CIRCUIT_FAILURE_THRESHOLD="3",
    ) as process:
        yield process


@pytest.fixture
def retrying(routing, retrying_process, upstream, second_upstream):
    upstream.reset()
    second_upstream.reset()
    retrying_process.sync_config()
    yield retrying_process
    retrying_process.drain_usage()


def _client(gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0, timeout=20)


@pytest.mark.parametrize(("fault", "first_status"), ONCE)
def test_a_failure_once_is_retried_and_the_client_gets_the_answer(retrying, upstream, fault, first_status):
    upstream.configure(models={"fast-upstream": {**fault, "fail_times": 1}})
    started = time.monotonic()
    raw = _client(retrying).chat.completions.with_raw_response.create(**BODY)
    elapsed = time.monotonic() - started
    assert raw.parse().choices[0].message.content == "mock reply to: hi"
    assert raw.headers["x-gateway-model"] == "fast-model" and raw.headers["x-gateway-attempts"] == "2"
    [row] = usage_rows(1)
    assert row.status == "ok" and row.status_code == 200 and row.attempts == 2
    first, second = row.attempt_log
    assert (first["status"], first["try"], first["model"]) == (first_status, 1, "fast-model")
    assert first["error"] and (second["status"], second["try"]) == (200, 2)
    assert raw.headers["x-gateway-route-reason"] == (
        f"fast-model via mockai: model 'fast-model' requested by id (answered on try 2 after "
        f"{first_status or 'upstream_connection_error'})")
    if first_status == 429:  # the mock's Retry-After: 1 is honoured, not the 50 ms backoff
        assert second["waited_ms"] >= 1000 and elapsed >= 1.0
    else:
        assert 25 <= second["waited_ms"] < 1000


@pytest.mark.parametrize(("fault", "first_status"), ONCE)
def test_a_stream_that_fails_before_its_first_byte_is_retried(retrying, upstream, fault, first_status):
    upstream.configure(models={"fast-upstream": {**fault, "fail_times": 1}})
    with httpx.stream("POST", f"{retrying.base_url}/chat/completions", json={**BODY, "stream": True},
                      timeout=20) as response:
        assert response.status_code == 200 and response.headers["x-gateway-attempts"] == "2"
        events = [block for block in response.read().decode().split("\n\n") if block]
    assert events[-1] == "data: [DONE]"
    text = "".join(json.loads(event.removeprefix("data: "))["choices"][0]["delta"].get("content") or ""
                   for event in events[:-1] if json.loads(event.removeprefix("data: "))["choices"])
    assert text == "mock reply to: hi"
    [row] = usage_rows(1)
    assert row.status == "ok" and row.attempts == 2 and row.stream
    assert [(a["status"], a["try"]) for a in row.attempt_log] == [(first_status, 1), (200, 2)]


def test_a_400_is_not_retried(retrying, upstream):
    upstream.configure(models={"fast-upstream": {"status": 400, "fail_times": 1}})
    with pytest.raises(openai.BadRequestError):
        _client(retrying).chat.completions.create(**BODY)
    [row] = usage_rows(1)
    assert row.status_code == 400 and row.attempts == 1 and row.attempt_log[0]["status"] == 400


def test_a_lasting_failure_is_tried_three_times_and_counts_once_toward_the_circuit(retrying, upstream):
    upstream.configure(models={"fast-upstream": {"status": 503}})
    with pytest.raises(openai.APIStatusError) as caught:
        _client(retrying).chat.completions.create(**BODY)
    assert caught.value.status_code == 502 and caught.value.response.headers["x-gateway-attempts"] == "3"
    [row] = usage_rows(1)
    assert [(a["status"], a["try"]) for a in row.attempt_log] == [(503, 1), (503, 2), (503, 3)]
    # Three tries, one failed request: the circuit (threshold 3) stays closed and counts one failure.
    assert retrying.status()["circuits"]["mockai"] == {"state": "closed", "consecutive_failures": 1}
    upstream.reset()
    assert _client(retrying).chat.completions.create(**BODY).choices[0].message.content == "mock reply to: hi"
    assert "mockai" not in retrying.status()["circuits"]


def test_fallback_comes_after_the_retries_of_the_first_candidate(retrying, upstream):
    upstream.configure(models={"smart-upstream": {"status": 500}})
    raw = _client(retrying).chat.completions.with_raw_response.create(**{**BODY, "model": "smart-model"})
    assert raw.headers["x-gateway-model"] == "backup-model" and raw.headers["x-gateway-attempts"] == "4"
    [row] = usage_rows(1)
    assert [(a["model"], a["try"]) for a in row.attempt_log] == [
        ("smart-model", 1), ("smart-model", 2), ("smart-model", 3), ("backup-model", 1)]


def test_the_deadline_bounds_retries_and_the_try_in_flight(routing, upstream, second_upstream, tmp_path,
                                                          django_db_blocker):
    upstream.reset()
    with dedicated_gateway(tmp_path, GATEWAY_RETRIES="2", GATEWAY_REQUEST_DEADLINE_SECONDS="1.2",
                           GATEWAY_RETRY_BASE_DELAY_SECONDS="0.05") as gateway:
        gateway.sync_config()
        client = _client(gateway)
        # Retry-After: 1 would end past the deadline at the second retry: it is not waited for.
        upstream.configure(models={"fast-upstream": {"status": 429}})
        started = time.monotonic()
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(**BODY)
        assert time.monotonic() - started < 1.2
        # An upstream that hangs (read timeout 2 s) is cut at the deadline: 504, not after 3 x 2 s.
        upstream.configure(models={"fast-upstream": {"mode": "hang", "status": 200}})
        started = time.monotonic()
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(**BODY)
        assert caught.value.status_code == 504 and caught.value.body["code"] == "deadline_exceeded"
        assert 1.1 < time.monotonic() - started < 2.0
        gateway.drain_usage()
    rate_limited, hung = usage_rows(2)
    assert [a["try"] for a in rate_limited.attempt_log] == [1, 2] and rate_limited.status_code == 429
    assert hung.status_code == 504 and hung.attempt_log[-1]["code"] == "deadline_exceeded"
