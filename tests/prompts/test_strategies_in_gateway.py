"""Role strategies as the upstream receives them, through the real gateway: added as one delimited block after the
client's system prompt, the client's messages untouched, the same bytes on every request, on both front doors and
for an Anthropic backend too. Also: switching strategies off, and detection rules edited in the admin."""

from __future__ import annotations

import json

import httpx
import orjson
import pytest

from prompts.config_io import default_strategies_path, load_strategies_file, strategies_import
from routing.models import RoleName

CLIENT_SYSTEM = "You are the team's assistant. Answer in British English."
TASK = "Please look at this for me."
CACHED_SYSTEM = [{"type": "text", "text": "A long cached preamble.", "cache_control": {"type": "ephemeral"}}]


@pytest.fixture
def strategies(gateway):
    strategies_import(load_strategies_file(default_strategies_path()))
    gateway.sync_config()


def send(gateway, *, model="auto", headers=None, **fields) -> httpx.Response:
    messages = [{"role": "system", "content": CLIENT_SYSTEM}, {"role": "user", "content": TASK}]
    response = httpx.post(f"{gateway.base_url}/chat/completions", timeout=10, headers=headers or {},
                          json={"model": model, "messages": messages, **fields})
    assert response.status_code == 200, response.text
    return response


def received(upstream) -> list[dict]:
    return upstream.stats()["log"][-1]["body"]["messages"]


def expected_block(role: str) -> str:
    from prompts.models import RoleStrategy
    from prompts.strategies import render_block

    row = RoleStrategy.objects.get(role__name=role)
    return render_block(role, row.system_prompt, RoleStrategy.split_lines(row.techniques),
                        RoleStrategy.split_lines(row.constraints), row.examples)


@pytest.mark.parametrize("role", RoleName.values)
def test_each_roles_strategy_follows_the_client_system_prompt_byte_for_byte_the_same(gateway, upstream,
                                                                                   strategies, role):
    first = send(gateway, model=f"auto:{role}")
    sent_first = orjson.dumps(received(upstream))
    second = send(gateway, model=f"auto:{role}")
    sent_second = orjson.dumps(received(upstream))
    assert sent_first == sent_second  # byte-stable: the providers' prompt caches keep hitting
    messages = received(upstream)
    assert messages[0] == {"role": "system", "content": CLIENT_SYSTEM}  # the client's, intact and first
    assert messages[1]["role"] == "system"
    assert messages[1]["content"] == expected_block(role)
    assert messages[1]["content"].startswith(f'<gateway-strategy role="{role}">')
    assert messages[1]["content"].endswith("</gateway-strategy>")
    assert messages[2:] == [{"role": "user", "content": TASK}]
    assert first.headers["x-gateway-strategy"] == second.headers["x-gateway-strategy"] == f"{role}; append"


def test_the_detected_role_brings_its_strategy(gateway, upstream, strategies):
    response = httpx.post(f"{gateway.base_url}/chat/completions", timeout=10, json={"model": "auto", "messages": [
        {"role": "user", "content": "Write pytest unit tests for the `slugify` helper, including unicode input."}]})
    assert response.headers["x-gateway-role"] == "testing"
    messages = received(upstream)
    assert messages[0]["content"].startswith('<gateway-strategy role="testing">')  # no client system: first
    assert messages[1]["content"].startswith("Write pytest unit tests")


def test_off_for_a_request_a_profile_or_a_key_and_never_for_a_named_model(gateway, upstream, strategies):
    from prompts.models import StrategyOptOut

    plain = [{"role": "system", "content": CLIENT_SYSTEM}, {"role": "user", "content": TASK}]
    response = send(gateway, model="auto:debugging", headers={"x-gateway-optimize": "off"})
    assert received(upstream) == plain and response.headers["x-gateway-strategy"] == "off; request"
    send(gateway, model="smart-model")
    assert received(upstream) == plain
    StrategyOptOut.objects.create(kind="profile", name="work")
    gateway.sync_config()
    response = send(gateway, model="auto:debugging", profile="work")
    assert received(upstream) == plain and response.headers["x-gateway-strategy"] == "off; policy"
    send(gateway, model="auto:debugging", profile="personal")
    assert len(received(upstream)) == 3


def test_prepend_puts_the_block_before_the_client_system_prompt(gateway, upstream, strategies):
    from prompts.models import RoleStrategy

    RoleStrategy.objects.filter(role__name="debugging").update(placement="prepend")
    RoleStrategy.objects.get(role__name="architect").save(update_fields=["updated_at"])  # signal: config changed
    gateway.sync_config()
    response = send(gateway, model="auto:debugging")
    messages = received(upstream)
    assert messages[0]["content"].startswith('<gateway-strategy role="debugging">')
    assert messages[1:] == [{"role": "system", "content": CLIENT_SYSTEM}, {"role": "user", "content": TASK}]
    assert response.headers["x-gateway-strategy"] == "debugging; prepend"


def test_v1_messages_to_an_openai_backend_gets_the_same_block(gateway, upstream, strategies):
    body = {"model": "auto:architect", "max_tokens": 100, "system": CLIENT_SYSTEM,
            "messages": [{"role": "user", "content": TASK}]}
    response = httpx.post(f"{gateway.url}/v1/messages", json=body, timeout=10,
                          headers={"anthropic-version": "2023-06-01"})
    assert response.status_code == 200, response.text
    messages = received(upstream)
    assert messages[0] == {"role": "system", "content": CLIENT_SYSTEM}
    assert messages[1] == {"role": "system", "content": expected_block("architect")}
    assert messages[2]["role"] == "user"


def test_an_anthropic_backend_gets_the_block_after_the_clients_system_text(gateway, routing, strategies):
    from prompts.models import RoleStrategy
    from routing.models import Model, Provider, RankingEntry, Role
    from tests.providers.anthropic_loopback import AnthropicLoopback

    server = AnthropicLoopback()
    server.serve_fixture("messages_response.recorded.json")
    try:
        provider = Provider.objects.create(name="claude", kind="anthropic", base_url=server.base_url,
                                           api_key_env="MOCKAI_API_KEY", tier="paid", timeout_seconds=5)
        model = Model.objects.create(public_id="claude-model", provider=provider,
                                     upstream_name="claude-haiku-4-5-20251001", context_window=200000)
        RankingEntry.objects.create(role=Role.objects.get(name="documentation"), model=model, position=0,
                                    kind="primary")
        RoleStrategy.objects.get(role__name="documentation").save()
        gateway.sync_config()
        bodies = []
        for system in (CLIENT_SYSTEM, CLIENT_SYSTEM, CACHED_SYSTEM):
            body = {"model": "auto:documentation", "max_tokens": 2048, "system": system,
                    "messages": [{"role": "user", "content": TASK}]}
            if system is CACHED_SYSTEM:
                body["thinking"] = {"type": "enabled", "budget_tokens": 1024}
            response = httpx.post(f"{gateway.url}/v1/messages", timeout=10, json=body,
                                  headers={"anthropic-version": "2023-06-01"})
            assert response.status_code == 200, response.text
            bodies.append(server.last.body)
        system = bodies[0]["system"]
        assert system == [{"type": "text", "text": CLIENT_SYSTEM},
                          {"type": "text", "text": expected_block("documentation")}]
        assert json.dumps(bodies[0]["system"]) == json.dumps(bodies[1]["system"])
        assert bodies[0]["messages"] == [{"role": "user", "content": TASK}]  # as the client sent them
        # The request goes through as it is (thinking, cache_control), with the block after the client's.
        assert bodies[2]["system"] == [*CACHED_SYSTEM, {"type": "text", "text": expected_block("documentation")}]
        assert bodies[2]["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    finally:
        server.close()


def test_detection_rules_edited_in_the_admin_take_effect(gateway, upstream):
    from prompts.models import DetectionRule

    task = [{"role": "user", "content": "Let's do the flurble ritual on the payments module."}]
    before = httpx.post(f"{gateway.base_url}/chat/completions", timeout=10, json={"model": "auto", "messages": task})
    assert before.headers["x-gateway-role"] != "code_review"
    DetectionRule.objects.create(role="code_review", pattern=r"\bflurble ritual\b", weight=5)
    gateway.sync_config()
    after = httpx.post(f"{gateway.base_url}/chat/completions", timeout=10, json={"model": "auto", "messages": task})
    assert after.headers["x-gateway-role"] == "code_review"
    assert after.headers["x-gateway-role-source"] == "fast_path"
