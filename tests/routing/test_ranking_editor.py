"""The ranking editor: a role's whole order posted at once, reviewed, then stored by ranking_replace."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from routing.models import Model, Profile, Provider, RankingEntry, Role
from routing.ranking_review import review_ranking
from routing.selectors import build_routing_snapshot, read_config_token
from routing.services import ranking_read

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def rows(monkeypatch):
    monkeypatch.setenv("EDITOR_PAID_KEY", "sk-editor-paid-0001")
    monkeypatch.setenv("EDITOR_FREE_KEY", "sk-editor-free-0001")
    paid = Provider.objects.create(name="paidco", base_url="https://paid.test/v1", api_key_env="EDITOR_PAID_KEY",
                                   tier="paid")
    free = Provider.objects.create(name="freeco", base_url="https://free.test/v1", api_key_env="EDITOR_FREE_KEY",
                                   tier="free")
    keyless = Provider.objects.create(name="nokey", base_url="https://nokey.test/v1",
                                      api_key_env="EDITOR_MISSING_KEY", tier="paid")
    models = {
        "big": Model.objects.create(public_id="big", provider=paid, upstream_name="big-1", context_window=200_000,
                                    input_price_per_mtok=3, output_price_per_mtok=15),
        "small": Model.objects.create(public_id="small", provider=paid, upstream_name="small-1"),
        "gratis": Model.objects.create(public_id="gratis", provider=free, upstream_name="gratis-1"),
        "orphan": Model.objects.create(public_id="orphan", provider=keyless, upstream_name="orphan-1"),
        "off": Model.objects.create(public_id="off", provider=paid, upstream_name="off-1", enabled=False),
    }
    role = Role.objects.create(name="implementation")
    Role.objects.create(name="general")
    for position, name in enumerate(["big", "small"]):
        RankingEntry.objects.create(role=role, model=models[name], position=position,
                                    kind="primary" if position == 0 else "fallback")
    Profile.objects.create(name="personal", tiers="free,paid,enterprise")
    Profile.objects.create(name="work", tiers="paid,enterprise")
    return {"role": role, "models": models}


def _post(client, role, order, **fields):
    data = {"order": order, **fields}
    return client.post(reverse("admin:routing_role_ranking", args=[role.pk]), data)


def test_the_editor_lists_entries_with_provider_tier_price_and_context(admin_client, rows):
    page = admin_client.get(reverse("admin:routing_role_ranking", args=[rows["role"].pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert [row.spec.model for row in page.context["rows"]] == ["big", "small"]
    assert "paidco" in html and "200000" in html and "3 / 15" in html
    assert 'draggable="true"' in html
    # Models not yet in the ranking are offered for adding.
    assert {m.public_id for m in page.context["addable"]} == {"gratis", "orphan", "off"}


def test_a_new_order_is_stored_through_ranking_replace_and_bumps_the_config(admin_client, rows):
    before = read_config_token()
    response = _post(admin_client, rows["role"], ["small", "big", "gratis"],
                     **{"kind:small": "primary", "kind:big": "fallback", "kind:gratis": "free_tier",
                        "pinned:small": "on", "reason:small": "cheaper and good enough"})
    assert response.status_code == 302
    ranking = ranking_read(role="implementation")
    assert [(e.model, e.kind, e.pinned) for e in ranking] == [
        ("small", "primary", True), ("big", "fallback", False), ("gratis", "free_tier", False)]
    assert ranking[0].reason == "cheaper and good enough"
    assert read_config_token() != before
    positions = RankingEntry.objects.filter(role=rows["role"]).order_by("position").values_list("position", flat=True)
    assert list(positions) == [0, 1, 2]


def test_entries_that_cannot_serve_are_saved_with_a_visible_warning(admin_client, rows):
    assert _post(admin_client, rows["role"], ["big", "orphan", "off"]).status_code == 302
    response = admin_client.get(reverse("admin:routing_role_ranking", args=[rows["role"].pk]))
    assert [e.model for e in ranking_read(role="implementation")] == ["big", "orphan", "off"]
    html = response.content.decode()
    assert "has no API key (set EDITOR_MISSING_KEY)" in html
    assert "the model is disabled" in html
    assert html.count("has-warning") == 2


def test_the_warning_is_also_a_message_after_saving(admin_client, rows):
    response = admin_client.post(reverse("admin:routing_role_ranking", args=[rows["role"].pk]),
                                 {"order": ["big", "orphan"]}, follow=True)
    shown = [str(message) for message in response.context["messages"]]
    assert any("orphan cannot serve requests now" in message and "EDITOR_MISSING_KEY" in message for message in shown)


def test_a_save_leaving_a_profile_without_a_usable_model_is_refused_naming_it(admin_client, rows):
    before = read_config_token()
    # Only the free model: the work profile (paid, enterprise) would have nothing for this role.
    response = _post(admin_client, rows["role"], ["gratis", "orphan"])
    assert response.status_code == 400
    html = response.content.decode().replace("&#x27;", "'")
    assert "Not saved: role 'implementation' would have no usable model under profile 'work'" in html
    assert "gratis: profile 'work' does not use provider 'freeco'" in html
    # Nothing changed, and the page shows the refused order so the operator can fix it.
    assert [e.model for e in ranking_read(role="implementation")] == ["big", "small"]
    assert read_config_token() == before
    assert [row.spec.model for row in response.context["rows"]] == ["gratis", "orphan"]


def test_a_profile_that_could_not_serve_before_does_not_block_other_edits(rows):
    snapshot = build_routing_snapshot()
    review = review_ranking(snapshot, role="implementation", proposed=["gratis"], current=["orphan"])
    assert not review.refused
    assert review.profile_warnings and "profile 'work'" in review.profile_warnings[0]


def test_review_falls_back_to_the_general_ranking_for_an_empty_role(rows):
    snapshot = build_routing_snapshot()
    review = review_ranking(snapshot, role="implementation", proposed=[], current=["big"])
    # general has no ranking either: emptying the role leaves nothing, so it is refused for every profile.
    assert [r.split("'")[3] for r in review.refusals] == ["personal", "work"]
    RankingEntry.objects.create(role=Role.objects.get(name="general"), model=rows["models"]["small"], position=0)
    review = review_ranking(build_routing_snapshot(), role="implementation", proposed=[], current=["big"])
    assert not review.refused


def test_a_view_only_staff_member_sees_the_ranking_but_cannot_save(client, rows):
    viewer = User.objects.create_user("viewer", password="viewer-pass-1", is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))
    client.force_login(viewer)
    url = reverse("admin:routing_role_ranking", args=[rows["role"].pk])
    page = client.get(url)
    assert page.status_code == 200
    assert 'id="save-ranking"' not in page.content.decode()
    assert client.post(url, {"order": ["small"]}).status_code == 403
    assert [e.model for e in ranking_read(role="implementation")] == ["big", "small"]


def test_a_save_based_on_a_ranking_changed_since_is_refused(admin_client, rows):
    url = reverse("admin:routing_role_ranking", args=[rows["role"].pk])
    based_on = admin_client.get(url).context["based_on"]
    assert _post(admin_client, rows["role"], ["small", "big"], based_on=based_on).status_code == 302
    # A second operator still holds the page built before that save.
    response = admin_client.post(url, {"order": ["big"], "based_on": based_on}, follow=True)
    assert any("changed by someone else" in str(m) for m in response.context["messages"])
    assert [e.model for e in ranking_read(role="implementation")] == ["small", "big"]
