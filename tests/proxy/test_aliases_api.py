"""Model aliases through the running gateway: Claude Code's model ids served by `auto`, the row keeping the id."""

from __future__ import annotations

import anthropic
import httpx
import pytest

from tests.conftest import usage_rows


@pytest.fixture
def aliases(routing, gateway):
    from routing.models import ModelAlias

    ModelAlias.objects.create(pattern="claude-opus-*", target="auto")
    ModelAlias.objects.create(pattern="claude-*haiku*", target="auto:general")
    ModelAlias.objects.create(pattern="gpt-5-codex", target="smart-model")
    gateway.sync_config()


@pytest.fixture
def client(gateway):
    with anthropic.Anthropic(base_url=gateway.url, api_key="unused", max_retries=0, timeout=20) as client:
        yield client


def test_claude_codes_small_fast_model_is_served_by_auto_general(client, aliases):
    raw = client.messages.with_raw_response.create(model="claude-haiku-5-5", max_tokens=50,
                                                   messages=[{"role": "user", "content": "Title for this chat"}])
    assert raw.parse().content[0].text == "mock reply to: Title for this chat"
    assert (raw.headers["x-gateway-model"], raw.headers["x-gateway-role"]) == ("fast-model", "general")
    [row] = usage_rows(1)
    assert (row.requested_model, row.model, row.role) == ("claude-haiku-5-5", "fast-model", "general")


def test_the_main_model_follows_the_role_of_the_request(client, aliases):
    raw = client.messages.with_raw_response.create(
        model="claude-opus-5-5", max_tokens=50, messages=[{"role": "user", "content": "Design a cache"}],
        extra_headers={"x-gateway-role": "architect"})
    assert (raw.headers["x-gateway-model"], raw.headers["x-gateway-role"]) == ("smart-model", "architect")
    [row] = usage_rows(1)
    assert (row.requested_model, row.model, row.role) == ("claude-opus-5-5", "smart-model", "architect")


def test_an_exact_alias_of_a_model_works_for_openai_clients_too(sdk, aliases):
    completion = sdk.chat.completions.create(model="gpt-5-codex", messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content == "mock reply to: hi"
    [row] = usage_rows(1)
    assert (row.requested_model, row.model) == ("gpt-5-codex", "smart-model")


def test_models_lists_the_aliases_and_answers_for_an_id_they_match(gateway, aliases):
    listed = httpx.get(f"{gateway.base_url}/models", timeout=10).json()["data"]
    by_id = {entry["id"]: entry for entry in listed}
    assert by_id["claude-opus-*"]["alias_for"] == ["auto"] and by_id["claude-opus-*"]["glob"] is True
    assert by_id["gpt-5-codex"]["alias_for"] == ["smart-model"] and "glob" not in by_id["gpt-5-codex"]
    one = httpx.get(f"{gateway.base_url}/models/claude-haiku-5-5", timeout=10)
    assert one.status_code == 200 and one.json()["id"] == "claude-haiku-5-5"
    assert one.json()["alias_for"] == ["auto:general"]
    assert httpx.get(f"{gateway.base_url}/models/claude-unknown", timeout=10).status_code == 404



def test_an_alias_to_a_role_the_key_may_not_use_is_refused():
    """The role an `auto:<role>` alias routes to is checked against the key like a role asked for."""
    import dataclasses

    from apikeys.access import Access, KeySpec, PermissionDenied
    from proxy import steps
    from proxy.chat_request import ChatRequest
    from proxy.context import RequestContext
    from routing.aliases import alias_spec
    from tests.routing.test_selection import snapshot

    snap = dataclasses.replace(snapshot(), aliases=(alias_spec("claude-*haiku*", ["auto:general"]),))
    key = KeySpec(prefix="gwk_test", name="architects", digest="x", allowed_roles=frozenset({"architect"}))
    chat = ChatRequest(body={}, model="claude-haiku-5-5", stream=False, include_usage=False, role="architect",
                       conversation_id="", profile=None)
    ctx = RequestContext(access=Access(key), snapshot=snap, chat=chat, role="architect")
    steps.authorize(ctx)
    with pytest.raises(PermissionDenied) as caught:
        steps.select(ctx)
    assert "'general'" in caught.value.message
    ctx.access = Access(dataclasses.replace(key, allowed_roles=frozenset({"architect", "general"})))
    steps.select(ctx)
    assert ctx.role == "general" and [c.via for c in ctx.candidates][:1] == ["auto:general"]
