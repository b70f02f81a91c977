""""Why this model": X-Gateway-Route-Reason on every response, the same words in the usage row."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from proxy.dispatch import CallLog
from proxy.route_reason import describe_route, header_value
from tests.conftest import usage_rows


def test_auto_says_which_role_ranking_entry_was_used(sdk, gateway):
    raw = sdk.chat.completions.with_raw_response.create(
        model="auto:architect", messages=[{"role": "user", "content": "design it"}])
    expected = "smart-model via mockai: role 'architect' ranking #1 (primary: test ranking 0)"
    assert raw.headers["x-gateway-route-reason"] == expected
    [row] = usage_rows(1)
    assert row.route_reason == expected


def test_a_fallback_says_what_happened_before_it(sdk, gateway, upstream):
    upstream.configure(models={"smart-upstream": {"status": 500}})
    raw = sdk.chat.completions.with_raw_response.create(
        model="smart-model", messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-gateway-route-reason"] == (
        "backup-model via mockai: fallback #1 of 'smart-model'; before it: smart-model via mockai failed (500)")
    [row] = usage_rows(1)
    assert row.route_reason == raw.headers["x-gateway-route-reason"]


def test_a_request_by_id_and_a_failure_have_one_too(gateway, upstream):
    ok = httpx.post(f"{gateway.base_url}/chat/completions", timeout=10, json={
        "model": "fast-model", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    assert ok.headers["x-gateway-route-reason"] == "fast-model via mockai: model 'fast-model' requested by id"
    upstream.configure(models={"fast-upstream": {"mode": "drop"}})
    failed = httpx.post(f"{gateway.base_url}/chat/completions", timeout=10, json={
        "model": "fast-model", "messages": [{"role": "user", "content": "hi"}]})
    assert failed.status_code == 502
    assert failed.headers["x-gateway-route-reason"] == (
        "no candidate answered: fast-model via mockai failed (upstream_connection_error)")
    usage_rows(2)


def test_candidates_the_key_may_not_use_are_named(gateway):
    from apikeys.services import key_create

    _, secret = key_create(name="backup only", allowed_models="backup-model")
    client = openai.OpenAI(base_url=gateway.base_url, api_key=secret, max_retries=0, timeout=10)
    deadline = time.monotonic() + 5
    while True:  # until the gateway's key snapshot has the new key
        try:
            raw = client.chat.completions.with_raw_response.create(
                model="auto:architect", messages=[{"role": "user", "content": "plan"}])
            break
        except openai.AuthenticationError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    assert raw.headers["x-gateway-route-reason"] == (
        "backup-model via mockai: role 'architect' ranking #2 (fallback: test ranking 1); "
        "before it: smart-model via mockai skipped (not permitted by the key)")
    [row] = usage_rows(1)
    assert row.attempts == 1 and row.attempt_log[0]["skipped"] == "not_permitted"


@pytest.mark.parametrize(("reason", "expected"), [
    ("plain ascii", "plain ascii"),
    ("ranked “best” — café\r\nX-Evil: 1", "ranked ?best? ? caf???X-Evil: 1"),
    ("x" * 600, "x" * 509 + "..."),
])
def test_the_header_value_is_ascii_without_line_breaks_and_bounded(reason, expected):
    assert header_value(reason) == expected
    assert describe_route([], CallLog()) == ""
