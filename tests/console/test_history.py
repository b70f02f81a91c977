"""History and undo: who changed what and when, a diff, and a revert that goes through the same checks."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apikeys.models import GatewayKey
from apikeys.services import key_create, key_revoke
from routing.models import Profile, Provider, RankingEntry, Role
from routing.ranking_history import ranking_revisions
from routing.selectors import read_config_token
from routing.services import RankingSpec, ranking_read, ranking_replace

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def provider_keys(monkeypatch):
    """The loopback providers' keys, as the gateway process has them (so their models are usable)."""
    monkeypatch.setenv("MOCKAI_API_KEY", "sk-mock-history-0001")
    monkeypatch.setenv("MOCKFREE_API_KEY", "sk-free-history-0001")


def _editor(role):
    return reverse("admin:routing_role_ranking", args=[role.pk])


def _history(role):
    return reverse("admin:routing_role_ranking_history", args=[role.pk])


def test_ranking_changes_are_revisions_with_who_when_and_what(admin_client, admin_user, routing):
    role = Role.objects.get(name="architect")
    admin_client.post(_editor(role), {"order": ["backup-model", "smart-model"]})
    ranking_replace(role="architect", entries=[RankingSpec("smart-model", "primary")], change_reason="research run")

    revisions = ranking_revisions(role_id=role.pk)
    assert [r.models for r in revisions[:2]] == [["smart-model"], ["backup-model", "smart-model"]]
    assert (revisions[0].user, revisions[0].change_reason) == ("system", "research run")
    assert (revisions[1].user, revisions[1].change_reason) == (admin_user.username, "reordered in the admin")
    # Bulk writes are recorded: one created and one removed row per entry, on one timestamp per revision.
    history = RankingEntry.history.filter(role_id=role.pk, history_date=revisions[0].date)
    assert sorted(history.values_list("history_type", flat=True)) == ["+", "-", "-"]

    page = admin_client.get(_history(role)).content.decode()
    assert "research run" in page and admin_user.username in page
    assert "− backup-model" in page
    assert "order: smart-model › backup-model ⟶ backup-model › smart-model" in page


def test_revert_restores_the_ranking_through_the_same_write_and_bumps_the_config(admin_client, routing):
    role = Role.objects.get(name="architect")
    admin_client.post(_editor(role), {"order": ["backup-model", "smart-model"]})
    admin_client.post(_editor(role), {"order": ["smart-model", "fast-model"]})
    target = ranking_revisions(role_id=role.pk)[1]
    before = read_config_token()

    response = admin_client.post(_history(role), {"revision": target.date.isoformat()}, follow=True)

    assert [e.model for e in ranking_read(role="architect")] == ["backup-model", "smart-model"]
    assert read_config_token() != before
    shown = [str(m) for m in response.context["messages"]]
    assert any(m.startswith("Restored the ranking of") for m in shown)
    assert ranking_revisions(role_id=role.pk)[0].change_reason.startswith("revert to the ranking of")


def test_a_revert_that_would_leave_a_profile_with_nothing_is_refused(admin_client, routing):
    role = Role.objects.get(name="architect")
    ranking_replace(role="architect", entries=[RankingSpec("free-model", "free_tier")])  # unusable under work
    ranking_replace(role="architect", entries=[RankingSpec("smart-model", "primary")])
    target = ranking_revisions(role_id=role.pk)[1]
    response = admin_client.post(_history(role), {"revision": target.date.isoformat()}, follow=True)
    shown = [str(m) for m in response.context["messages"]]
    assert any("Not saved: role 'architect' would have no usable model under profile 'work'" in m for m in shown), shown
    assert [e.model for e in ranking_read(role="architect")] == ["smart-model"]


def test_a_provider_edit_is_recorded_and_reverted_through_the_admin_form(admin_client, admin_user, routing):
    provider = routing.paid
    url = reverse("admin:routing_provider_change", args=[provider.pk])
    form = {"name": "mockai", "kind": "openai_compatible", "tier": "paid", "enabled": "on",
            "base_url": provider.base_url, "api_key_env": "MOCKAI_API_KEY", "timeout_seconds": "2",
            "notes": "", "models-TOTAL_FORMS": "0", "models-INITIAL_FORMS": "0"}
    assert admin_client.post(url, {**form, "timeout_seconds": "9"}).status_code == 302
    assert Provider.objects.get(pk=provider.pk).timeout_seconds == 9

    history = admin_client.get(reverse("admin:routing_provider_history", args=[provider.pk]))
    html = history.content.decode()
    assert history.status_code == 200 and admin_user.username in html and "timeout_seconds" in html.lower().replace(
        " ", "_")
    first = provider.history.order_by("history_date").first()
    before = read_config_token()
    revert_url = reverse("admin:routing_provider_simple_history", args=[provider.pk, first.history_id])
    assert admin_client.get(revert_url).status_code == 200
    assert admin_client.post(revert_url, form).status_code == 302
    assert Provider.objects.get(pk=provider.pk).timeout_seconds == 2
    assert read_config_token() != before
    assert provider.history.latest().history_user == admin_user


def test_bulk_enable_actions_are_recorded(admin_client, admin_user, routing):
    url = reverse("admin:routing_provider_changelist")
    admin_client.post(url, {"action": "disable_selected", "_selected_action": [routing.free.pk]})
    latest = routing.free.history.latest()
    assert (latest.enabled, latest.history_user, latest.history_change_reason) == (False, admin_user, "disabled")


def test_key_history_never_holds_the_hash_and_a_revert_never_unrevokes(admin_client, routing):
    key, plaintext = key_create(name="agent")
    key_revoke(key=key)
    historical = GatewayKey.history.model
    assert "key_hash" not in {field.name for field in historical._meta.get_fields()}
    assert not any(plaintext in str(value) for row in historical.objects.values() for value in row.values())
    first = key.history.order_by("history_date").first()
    revert_url = reverse("admin:apikeys_gatewaykey_simple_history", args=[key.pk, first.history_id])
    response = admin_client.post(revert_url, {"name": "agent", "allowed_models": "", "allowed_roles": ""})
    assert response.status_code == 302, response.content.decode()[:2000]
    key.refresh_from_db()
    assert key.is_revoked


def test_an_import_is_one_ranking_revision_per_role(routing):
    from routing.config_io import routing_config_export, routing_config_import

    document = routing_config_export()
    architect = document["roles"]["architect"]
    architect["primary"], architect["fallbacks"] = architect["fallbacks"][0], [architect["primary"]]
    role = Role.objects.get(name="architect")
    count = len(ranking_revisions(role_id=role.pk))
    routing_config_import(document)
    revisions = ranking_revisions(role_id=role.pk)
    assert len(revisions) == count + 1
    assert (revisions[0].change_reason, revisions[0].models) == ("import", ["backup-model", "smart-model"])


def test_a_profile_revert_shows_and_restores_its_previous_providers(admin_client, routing):
    profile = Profile.objects.get(name="work")
    url = reverse("admin:routing_profile_change", args=[profile.pk])
    form = {"name": "work", "description": "", "tiers": "paid,enterprise"}
    assert admin_client.post(url, {**form, "providers": [routing.paid.pk]}).status_code == 302
    version = profile.history.latest()
    assert admin_client.post(url, {**form, "providers": [routing.free.pk]}).status_code == 302
    revert_url = reverse("admin:routing_profile_simple_history", args=[profile.pk, version.history_id])
    page = admin_client.get(revert_url)
    assert page.status_code == 200
    # The form shows the version's providers (simple-history alone would show today's).
    assert list(page.context["adminform"].form.initial["providers"]) == [routing.paid.pk]
    assert admin_client.post(revert_url, {**form, "providers": [routing.paid.pk]}).status_code == 302
    assert list(profile.providers.values_list("name", flat=True)) == ["mockai"]
