"""Bodies are not logged unless the debug switch is on; then every credential in them is masked."""

from __future__ import annotations

import uuid

import httpx
import pytest

from proxy.body_log import redact
from tests.conftest import MOCK_KEY, database_env, gateway_env, launch_gateway, stop_gateway

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    "secret",
    ["gwk_AbCd1234_abcdefghijklmnopqrstuvwxyz0123456789-_", "sk-proj-abcdefghijklmnop1234", "sk-ant-api03-xyzxyzxyz",
     "xai-0123456789abcdef", "AIzaSyA1234567890abcdefghijklmnop", "Bearer abc.def.ghi-jkl"],
)
def test_credential_shapes_are_redacted(secret):
    text = redact(f'{{"content": "use {secret} please"}}')
    assert secret not in text and "[REDACTED]" in text and "please" in text


def test_provider_keys_held_by_the_process_are_redacted(monkeypatch):
    monkeypatch.setenv("SOMEPROVIDER_API_KEY", "plain-looking-secret-value")
    assert redact("key=plain-looking-secret-value") == "key=[REDACTED]"


def chat(gateway, marker: str, key: str) -> httpx.Response:
    return httpx.post(
        f"{gateway.base_url}/chat/completions", timeout=10,
        headers={"authorization": f"Bearer {key}"},
        json={"model": "fast-model", "messages": [{"role": "user", "content": f"{marker} my key is {key}"}]},
    )


def test_bodies_stay_out_of_the_log_by_default(gateway):
    marker = f"marker-{uuid.uuid4().hex}"
    assert chat(gateway, marker, "sk-client-secret-123456").status_code == 200
    assert marker not in gateway.logs()


def test_the_debug_switch_logs_bodies_with_keys_redacted(routing, upstream, tmp_path, django_db_blocker):
    from apikeys.services import key_create

    _, gateway_key = key_create(name="debugging")
    env = gateway_env(database_env(), GATEWAY_ALLOW_ANONYMOUS="false", GATEWAY_LOG_BODIES="true")
    gateway = launch_gateway(env, tmp_path / "daphne.log")
    try:
        marker = f"marker-{uuid.uuid4().hex}"
        upstream.reset()
        assert chat(gateway, marker, gateway_key).status_code == 200
        logs = gateway.logs()
    finally:
        stop_gateway(gateway)
    assert f"{marker} my key is [REDACTED]" in logs and "mock reply" in logs  # request and response
    assert gateway_key not in logs and MOCK_KEY not in logs
