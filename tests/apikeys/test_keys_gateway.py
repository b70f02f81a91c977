"""Gateway keys through a real gateway process that requires them (the default), with the official
SDKs as clients: 401 / 403 / 429 as OpenAI sends them, revocation within a second, usage per key."""

from __future__ import annotations

import time
from decimal import Decimal

import anthropic
import httpx
import openai
import pytest

from apikeys.models import GatewayKey
from apikeys.services import key_create, key_revoke
from routing.models import Profile
from tests.conftest import database_env, gateway_env, launch_gateway, stop_gateway, usage_rows

CHAT = {"model": "fast-model", "messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture(scope="session")
def keyed_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """Keys required; key edits reach it by polling at the default interval (0.5 s), like any other process."""
    with django_db_blocker.unblock():
        db_env = database_env()
    env = gateway_env(db_env, GATEWAY_ALLOW_ANONYMOUS="false", KEYS_REFRESH_SECONDS="0.5")
    gateway = launch_gateway(env, tmp_path_factory.mktemp("keyed") / "daphne.log")
    yield gateway
    stop_gateway(gateway)


def wait_until_accepted(gateway, key: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(f"{gateway.base_url}/models", headers=bearer(key), timeout=5).status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError("the gateway did not pick up the new key")


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


@pytest.fixture
def keyed(routing, keyed_process, upstream, second_upstream):
    upstream.reset()
    second_upstream.reset()
    _, admin_key = key_create(name="ops", is_admin=True)
    wait_until_accepted(keyed_process, admin_key)
    keyed_process.admin_key = admin_key
    keyed_process.sync_config()
    yield keyed_process
    keyed_process.drain_usage()
    keyed_process.admin_key = None


def new_key(gateway, **fields) -> tuple[GatewayKey, str]:
    key, plaintext = key_create(name=fields.pop("name", "agent"), **fields)
    wait_until_accepted(gateway, plaintext)
    return key, plaintext


def client(gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0, timeout=20)


def test_no_key_or_a_wrong_key_gets_401_in_openai_shape_and_no_usage_row(keyed):
    from usage.models import UsageRecord

    before = UsageRecord.objects.count()
    for headers in ({}, bearer("x"), bearer("gwk_AAAAAAAA_" + "B" * 40), {"authorization": "Basic Zm9vOmJhcg=="}):
        response = httpx.post(f"{keyed.base_url}/chat/completions", json=CHAT, headers=headers, timeout=10)
        assert response.status_code == 401
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error" and error["code"] == "invalid_api_key"
        assert set(error) == {"message", "type", "param", "code"} and "Traceback" not in response.text
    with pytest.raises(openai.AuthenticationError), client(keyed, "any value") as sdk:
        sdk.chat.completions.create(**CHAT)
    for path in ("/v1/models", "/v1/models/fast-model", "/status"):
        assert httpx.get(f"{keyed.url}{path}", timeout=5).status_code == 401
    keyed.drain_usage()
    assert UsageRecord.objects.count() == before


def test_a_key_works_with_the_openai_sdk_and_its_prefix_is_on_the_usage_row(keyed):
    key, plaintext = new_key(keyed)
    with client(keyed, plaintext) as sdk:
        raw = sdk.chat.completions.with_raw_response.create(**CHAT)
        stream = sdk.chat.completions.create(**CHAT, stream=True)
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert raw.parse().choices[0].message.content and text
    rows = usage_rows(2, api_key_prefix=key.prefix)
    assert {row.status_code for row in rows} == {200}
    assert plaintext not in keyed.logs() and key.key_hash not in keyed.logs()


def test_x_api_key_works_for_anthropic_clients(keyed):
    _, plaintext = new_key(keyed)
    with anthropic.Anthropic(base_url=keyed.url, api_key=plaintext, max_retries=0) as sdk:
        message = sdk.messages.create(model="fast-model", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
        assert message.content[0].text
    with anthropic.Anthropic(base_url=keyed.url, api_key="gwk_AAAAAAAA_wrong", max_retries=0) as sdk:
        with pytest.raises(anthropic.AuthenticationError):
            sdk.messages.create(model="fast-model", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    # no key: 401 in Anthropic's shape, before the body is even looked at
    response = httpx.post(f"{keyed.url}/v1/messages", content=b"not json", timeout=5)
    assert response.status_code == 401
    assert response.json() == {"type": "error", "error": {"type": "authentication_error",
                                                          "message": response.json()["error"]["message"]}}


def test_a_revoked_key_stops_working_within_a_second(keyed):
    key, plaintext = new_key(keyed)
    key_revoke(key=key)
    revoked_at = time.monotonic()
    while True:
        response = httpx.post(f"{keyed.base_url}/chat/completions", json=CHAT, headers=bearer(plaintext), timeout=5)
        if response.status_code == 401:
            break
        assert time.monotonic() - revoked_at < 1.0, "the revoked key still works after a second"
        time.sleep(0.01)
    assert "revoked" in response.json()["error"]["message"]


def test_an_expired_key_gets_401(keyed):
    from datetime import timedelta

    from django.utils import timezone

    key, plaintext = new_key(keyed, expires_at=timezone.now() + timedelta(seconds=1.5))
    time.sleep(1.6)
    response = httpx.post(f"{keyed.base_url}/chat/completions", json=CHAT, headers=bearer(plaintext), timeout=5)
    assert response.status_code == 401 and "expired" in response.json()["error"]["message"]


def test_models_roles_and_profiles_outside_the_key_get_403(keyed):
    work = Profile.objects.get(name="work")
    key, plaintext = new_key(
        keyed, profile=work, allowed_models="fast-model, backup-*", allowed_roles="general,debugging"
    )
    cases = [
        ({**CHAT, "model": "smart-model"}, {}, "model_not_allowed"),
        ({**CHAT, "model": "auto", "role": "architect"}, {}, "role_not_allowed"),
        (CHAT, {"x-gateway-profile": "personal"}, "profile_not_allowed"),
        ({**CHAT, "profile": "personal"}, {}, "profile_not_allowed"),
    ]
    for body, headers, code in cases:
        response = httpx.post(f"{keyed.base_url}/chat/completions", json=body,
                              headers={**bearer(plaintext), **headers}, timeout=10)
        assert response.status_code == 403, (body, headers, response.text)
        assert response.json()["error"]["code"] == code
    with client(keyed, plaintext) as sdk, pytest.raises(openai.PermissionDeniedError):
        sdk.chat.completions.create(**{**CHAT, "model": "smart-model"})
    # auto for debugging ranks backup-model then smart-model: only the allowed one is used
    response = httpx.post(f"{keyed.base_url}/chat/completions", headers=bearer(plaintext), timeout=10,
                          json={**CHAT, "model": "auto:debugging"})
    assert response.status_code == 200 and response.headers["x-gateway-model"] == "backup-model"
    # a detected role the key may not use is the gateway's guess, not the caller's ask: the default, no 403
    response = httpx.post(f"{keyed.base_url}/chat/completions", headers=bearer(plaintext), timeout=10, json={
        "model": "auto", "messages": [{"role": "user", "content": "Design the module boundaries of our billing "
                                                                  "system and propose an architecture."}]})
    assert response.status_code == 200
    assert (response.headers["x-gateway-role"], response.headers["x-gateway-role-source"]) == ("general", "default")
    rows = usage_rows(7, api_key_prefix=key.prefix)
    assert sorted(row.status_code for row in rows) == [200, 200] + [403] * 5
    assert {row.profile for row in rows if row.status_code == 200} == {"work"}


def test_rpm_limit_answers_429_with_openai_rate_limit_headers(keyed):
    key, plaintext = new_key(keyed, rpm_limit=3, tpm_limit=100_000)
    statuses, last = [], None
    for _ in range(5):
        last = httpx.post(f"{keyed.base_url}/chat/completions", json=CHAT, headers=bearer(plaintext), timeout=10)
        statuses.append(last.status_code)
        if last.status_code == 200:
            assert last.headers["x-ratelimit-limit-requests"] == "3"
            assert last.headers["x-ratelimit-limit-tokens"] == "100000"
            assert int(last.headers["x-ratelimit-remaining-tokens"]) < 100_000
    assert statuses == [200, 200, 200, 429, 429]
    error = last.json()["error"]
    assert error["code"] == "rate_limit_exceeded" and error["type"] == "requests"
    assert last.headers["x-ratelimit-remaining-requests"] == "0" and int(last.headers["retry-after"]) >= 1
    with client(keyed, plaintext) as sdk, pytest.raises(openai.RateLimitError):
        sdk.chat.completions.create(**CHAT)
    rows = usage_rows(6, api_key_prefix=key.prefix)
    assert sorted(row.status_code for row in rows) == [200, 200, 200, 429, 429, 429]


def test_a_key_past_its_monthly_budget_gets_insufficient_quota(keyed):
    key, plaintext = new_key(keyed, monthly_budget=Decimal("0.0001"))
    body = {**CHAT, "model": "smart-model", "messages": [{"role": "user", "content": "word " * 50}]}
    statuses = []
    for _ in range(30):
        response = httpx.post(f"{keyed.base_url}/chat/completions", json=body, headers=bearer(plaintext), timeout=10)
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses[-1] == 429 and statuses[:-1] and set(statuses[:-1]) == {200}
    error = response.json()["error"]
    assert error["code"] == "insufficient_quota" and error["type"] == "insufficient_quota"
    assert response.headers["x-should-retry"] == "false"
    rows = usage_rows(len(statuses), api_key_prefix=key.prefix)
    spent_before_refusal = sum(row.cost for row in rows if row.status_code == 200)
    assert spent_before_refusal >= Decimal("0.0001")
    assert spent_before_refusal - rows[-2].cost < Decimal("0.0001")  # refused as soon as the budget was used


def test_status_needs_an_admin_key(keyed):
    _, plaintext = new_key(keyed)
    assert httpx.get(f"{keyed.url}/status", headers=bearer(plaintext), timeout=5).status_code == 403
    status = httpx.get(f"{keyed.url}/status", headers=bearer(keyed.admin_key), timeout=5)
    assert status.status_code == 200 and status.json()["keys_version"]
    assert httpx.get(f"{keyed.url}/health", timeout=5).status_code == 200  # liveness stays open
