"""The routing preview: what `auto` would try per role × profile, with reasons and live state."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from apikeys.services import key_create
from console.preview import LiveState, preview_chains
from routing.models import Profile
from routing.selectors import build_routing_snapshot

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def keys_set(monkeypatch):
    monkeypatch.setenv("MOCKAI_API_KEY", "sk-mock-preview-0001")
    monkeypatch.setenv("MOCKFREE_API_KEY", "sk-free-preview-0001")


def _chain(data, role, profile):
    return next(c for c in data["chains"] if c["role"] == role and c["profile"] == profile)


def _models(chain):
    return [step["model"] for step in chain["candidates"]]


def test_every_role_and_profile_has_a_chain_with_reasons(admin_client, routing, keys_set):
    data = admin_client.get(reverse("admin:routing_preview_json")).json()
    profiles = {chain["profile"] for chain in data["chains"]}
    assert profiles == {"personal", "work"}
    architect = _chain(data, "architect", "work")
    assert _models(architect) == ["smart-model", "backup-model"]
    # The selection's words, as X-Gateway-Route-Reason says them: position, kind and the entry's stored reason.
    assert architect["candidates"][0]["reason"].startswith("role 'architect' ranking #1 (primary: test ranking 0")
    # A role without its own ranking uses general's, and says so.
    testing = _chain(data, "testing", "work")
    assert _models(testing) == ["fast-model", "backup-model"]
    assert "role 'testing' (unranked, so 'general') ranking #1" in testing["candidates"][0]["reason"]


def test_a_missing_provider_key_is_skipped_with_the_reason(admin_client, routing, monkeypatch):
    monkeypatch.setenv("MOCKAI_API_KEY", "sk-mock-preview-0001")
    monkeypatch.delenv("MOCKFREE_API_KEY", raising=False)
    routing.models["free-model"].ranking_entries.create(role_id=routing.models["fast-model"].ranking_entries
                                                        .first().role_id, position=5, kind="free_tier")
    data = admin_client.get(reverse("admin:routing_preview_json"), {"role": "general"}).json()
    chain = _chain(data, "general", "personal")
    assert _models(chain) == ["fast-model", "backup-model"]
    assert chain["skipped"] == [{"model": "free-model",
                                 "reason": "provider 'mockfree' has no API key (set MOCKFREE_API_KEY)"}]


def test_free_tier_first_profile_reorders_and_explains(routing, keys_set):
    general = routing.models["fast-model"].ranking_entries.first().role
    general.ranking.create(model=routing.models["free-model"], position=5, kind="free_tier")
    chains = preview_chains(build_routing_snapshot(), LiveState(), roles=["general"])
    personal = next(c for c in chains if c["profile"] == "personal")
    assert _models(personal) == ["free-model", "fast-model", "backup-model"]
    reason = personal["candidates"][0]["reason"]
    assert "free tier first in profile 'personal'" in reason
    work = next(c for c in chains if c["profile"] == "work")
    assert _models(work) == ["fast-model", "backup-model"]
    assert work["skipped"][0]["reason"] == "profile 'work' does not use provider 'mockfree' (free tier)"


def test_an_open_circuit_moves_the_provider_last_and_says_so(routing, keys_set):
    general = routing.models["fast-model"].ranking_entries.first().role
    general.ranking.create(model=routing.models["free-model"], position=5, kind="free_tier")
    live = LiveState(circuits={"mockfree": {"state": "open", "consecutive_failures": 5, "retry_in_seconds": 12.0}})
    chains = preview_chains(build_routing_snapshot(), live, roles=["general"])
    personal = next(c for c in chains if c["profile"] == "personal")
    assert _models(personal) == ["fast-model", "backup-model", "free-model"]
    assert "circuit open for provider 'mockfree' (retry in 12.0s): tried only as a last resort" in \
        personal["candidates"][2]["reason"]


def test_preview_as_a_key_applies_its_profile_roles_and_models(admin_client, routing, keys_set):
    key, _ = key_create(name="reviewer", profile=Profile.objects.get(name="work"), allowed_models="backup-*",
                        allowed_roles="general,debugging")
    data = admin_client.get(reverse("admin:routing_preview_json"), {"key": key.prefix}).json()
    assert data["as_key"] == {"prefix": key.prefix, "name": "reviewer", "profile": "work"}
    assert {chain["profile"] for chain in data["chains"]} == {"work"}
    assert _models(_chain(data, "general", "work")) == ["backup-model"]
    assert {"model": "fast-model", "reason": f"key {key.prefix}… may not use this model"} in \
        _chain(data, "general", "work")["skipped"]
    assert _chain(data, "architect", "work")["error"].startswith("Refused for this key (403): This key may not use "
                                                                 "the role 'architect'")


def test_posted_unsaved_order_is_previewed_without_saving(admin_client, routing, keys_set):
    url = reverse("admin:routing_preview_json")
    response = admin_client.post(url, json.dumps({"rankings": {"architect": ["backup-model", "smart-model"]},
                                                  "roles": ["architect"]}), content_type="application/json")
    assert response.status_code == 200
    assert _models(_chain(response.json(), "architect", "work")) == ["backup-model", "smart-model"]
    # The stored ranking is untouched.
    assert _models(_chain(admin_client.get(url).json(), "architect", "work")) == ["smart-model", "backup-model"]


def test_bad_input_is_a_400_naming_the_field(admin_client, routing):
    url = reverse("admin:routing_preview_json")
    body = json.dumps({"rankings": {"architect": "smart-model"}})
    bad = admin_client.post(url, body, content_type="application/json")
    assert bad.status_code == 400 and bad.json()["error"].startswith("rankings:")
    assert admin_client.get(url, {"key": "gwk_nope"}).json()["error"] == "key: no active key with prefix 'gwk_nope'"


def test_the_preview_page_renders_chains(admin_client, routing, keys_set):
    page = admin_client.get(reverse("admin:routing_preview"))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-role="architect" data-profile="work"' in html
    assert "smart-model" in html and "ranking #1 (primary: test ranking 0" in html


def test_the_preview_needs_a_staff_session(client, routing):
    response = client.get(reverse("admin:routing_preview_json"))
    assert response.status_code == 302 and "/admin/login/" in response["location"]
