"""The routing admin as an operator uses it: pages render, secrets stay hidden, edits reach the router."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from core.models import ConfigVersion
from prompts.models import RoleStrategy
from routing.models import Model, ModelFallback, Profile, Provider, RankingEntry, Role
from routing.selectors import CONFIG_VERSION_KEY

SECRET = "sk-test-SECRET-abc123"


@pytest.fixture
def rows(db):
    """A small but complete routing configuration."""
    acme = Provider.objects.create(
        name="acme", base_url="https://api.acme.test/v1", api_key_env="ACME_ADMIN_TEST_KEY", tier="paid"
    )
    local = Provider.objects.create(name="local", kind="ollama", base_url="http://localhost:11434", tier="free")
    big = Model.objects.create(
        public_id="acme-big",
        provider=acme,
        upstream_name="big-2025",
        context_window=200_000,
        input_price_per_mtok=3,
        output_price_per_mtok=15,
        supports_vision=True,
    )
    small = Model.objects.create(public_id="acme-small", provider=acme, upstream_name="small-2025")
    llama = Model.objects.create(public_id="llama-local", provider=local, upstream_name="llama3.1:8b")
    ModelFallback.objects.create(model=big, fallback=small, position=0)
    role = Role.objects.create(name="implementation", description="Writing code")
    RankingEntry.objects.create(role=role, model=big, kind="primary", position=0, reason="strongest")
    RankingEntry.objects.create(role=role, model=small, kind="fallback", position=1, reason="cheaper")
    RankingEntry.objects.create(role=role, model=llama, kind="free_tier", position=2, reason="free")
    profile = Profile.objects.create(name="work", tiers="enterprise,paid")
    profile.providers.add(acme)
    strategy = RoleStrategy.objects.create(role=role, system_prompt="You are a careful implementer.")
    return {
        "acme": acme,
        "local": local,
        "big": big,
        "small": small,
        "llama": llama,
        "role": role,
        "profile": profile,
        "strategy": strategy,
    }


def _objects(rows):
    return [
        rows["acme"],
        rows["big"],
        rows["role"],
        RankingEntry.objects.first(),
        rows["profile"],
        rows["strategy"],
    ]


def _url(obj, view: str, *args) -> str:
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)


def test_every_changelist_add_and_change_page_renders(admin_client, rows):
    for obj in _objects(rows):
        changelist = admin_client.get(_url(obj, "changelist"))
        assert changelist.status_code == 200, obj._meta.label
        assert changelist.context["cl"].result_count >= 1
        # Ranking entries are edited on their role's ranking page (tests/routing/test_ranking_editor.py).
        can_add = not isinstance(obj, RankingEntry)
        assert admin_client.get(_url(obj, "add")).status_code == (200 if can_add else 403), obj._meta.label
        assert admin_client.get(_url(obj, "change", obj.pk)).status_code == 200, obj._meta.label


def test_config_version_is_not_in_the_admin(admin_client, db):
    index = admin_client.get(reverse("admin:index")).content.decode()
    assert "LLM Gateway administration" in index
    assert "config version" not in index.lower() and "configversion" not in index


def test_role_changelist_shows_primary_model_and_count(admin_client, rows):
    html = admin_client.get(reverse("admin:routing_role_changelist")).content.decode()
    assert re.search(r"implementation.*?acme-big.*?>3<", html, re.S)


def test_provider_pages_show_key_status_but_never_the_key(admin_client, rows, monkeypatch):
    monkeypatch.setenv("ACME_ADMIN_TEST_KEY", SECRET)
    monkeypatch.delenv("ACME_API_KEY", raising=False)
    needy = Provider.objects.create(name="needy", base_url="https://needy.test/v1", api_key_env="NEEDY_UNSET_KEY")
    monkeypatch.delenv("NEEDY_UNSET_KEY", raising=False)
    monkeypatch.delenv("NEEDY_API_KEY", raising=False)

    changelist = admin_client.get(reverse("admin:routing_provider_changelist"))
    change = admin_client.get(reverse("admin:routing_provider_change", args=[rows["acme"].pk]))
    for response in (changelist, change):
        html = response.content.decode()
        assert response.status_code == 200
        assert SECRET not in html
        assert "SECRET-abc" not in html and "abc123" not in html

    html = changelist.content.decode()
    assert "ACME_ADMIN_TEST_KEY" in html
    row = {name: _row_html(html, name) for name in ("acme", "local", needy.name)}
    assert 'alt="True"' in _key_cell(row["acme"])
    assert 'alt="True"' in _key_cell(row["local"])  # needs no key
    assert 'alt="False"' in _key_cell(row["needy"])

    change_html = change.content.decode()
    assert "Set in the environment." in change_html
    assert "ACME_API_KEY" in change_html and "ACME_BASE_URL" in change_html  # the secrets note
    missing = admin_client.get(reverse("admin:routing_provider_change", args=[needy.pk])).content.decode()
    assert "Missing: set NEEDY_UNSET_KEY" in missing


def test_provider_base_url_override_is_shown_without_credentials(admin_client, rows, monkeypatch):
    monkeypatch.setenv("ACME_BASE_URL", "https://user:hunter2@proxy.acme.test/v1")
    html = admin_client.get(reverse("admin:routing_provider_changelist")).content.decode()
    assert "https://proxy.acme.test/v1" in html
    assert "hunter2" not in html
    change = admin_client.get(reverse("admin:routing_provider_change", args=[rows["acme"].pk])).content.decode()
    assert "(from ACME_BASE_URL)" in change and "hunter2" not in change


def _row_html(html: str, name: str) -> str:
    for row in re.findall(r"<tr>.*?</tr>", html, re.S):
        if f">{name}</a>" in row:
            return row
    raise AssertionError(f"no changelist row for {name}")


def _key_cell(row: str) -> str:
    match = re.search(r'<td class="field-key_set">(.*?)</td>', row, re.S)
    assert match, row
    return match.group(1)


def _form_data(response) -> dict:
    """The POST a browser would send back for an unchanged admin change form, inlines included."""
    data: dict = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms.append(inline.formset.management_form)
        forms.extend(inline.formset.forms)
    for form in forms:
        for field in form:
            value = field.value()
            if value is None or value is False:
                continue
            data[field.html_name] = "on" if value is True else value
    return data


def _token() -> str | None:
    row = ConfigVersion.objects.filter(key=CONFIG_VERSION_KEY).first()
    return str(row.token) if row else None


def test_model_search_and_filters(admin_client, rows):
    url = reverse("admin:routing_model_changelist")
    response = admin_client.get(url, {"q": "big-2025", "provider__id__exact": rows["acme"].pk})
    assert response.status_code == 200
    assert [m.public_id for m in response.context["cl"].result_list] == ["acme-big"]

    response = admin_client.get(url, {"supports_vision__exact": "0", "enabled__exact": "1"})
    assert sorted(m.public_id for m in response.context["cl"].result_list) == ["acme-small", "llama-local"]

    response = admin_client.get(url, {"q": "acme", "provider__id__exact": rows["local"].pk})
    assert list(response.context["cl"].result_list) == []


def test_provider_search_and_filters(admin_client, rows):
    url = reverse("admin:routing_provider_changelist")
    response = admin_client.get(url, {"q": "loc", "tier__exact": "free"})
    assert response.status_code == 200
    assert [p.name for p in response.context["cl"].result_list] == ["local"]
    response = admin_client.get(url, {"kind__exact": "ollama", "tier__exact": "paid"})
    assert list(response.context["cl"].result_list) == []


def test_ranking_entries_filter_by_role_and_kind(admin_client, rows):
    response = admin_client.get(
        reverse("admin:routing_rankingentry_changelist"),
        {"role__id__exact": rows["role"].pk, "kind__exact": "free_tier"},
    )
    assert response.status_code == 200
    assert [e.model.public_id for e in response.context["cl"].result_list] == ["llama-local"]


def test_strategy_search_in_system_prompt(admin_client, rows):
    url = reverse("admin:prompts_rolestrategy_changelist")
    assert len(admin_client.get(url, {"q": "careful"}).context["cl"].result_list) == 1
    assert len(admin_client.get(url, {"q": "nothing-like-this"}).context["cl"].result_list) == 0


def test_model_autocomplete_serves_the_fallback_inline(admin_client, rows):
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {"term": "acme", "app_label": "routing", "model_name": "modelfallback", "field_name": "fallback"},
    )
    assert response.status_code == 200
    assert {item["text"] for item in response.json()["results"]} == {"acme-big", "acme-small"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("model_name", ["provider", "model"])
def test_disable_and_enable_actions_bump_config(admin_client, rows, model_name):
    cls = {"provider": Provider, "model": Model}[model_name]
    url = reverse(f"admin:routing_{model_name}_changelist")
    pks = list(cls.objects.values_list("pk", flat=True))
    before = _token()

    response = admin_client.post(url, {"action": "disable_selected", "_selected_action": pks})

    assert response.status_code == 302
    assert not cls.objects.filter(enabled=True).exists()
    after = _token()
    assert after != before
    admin_client.post(url, {"action": "enable_selected", "_selected_action": pks[:1]})
    assert list(cls.objects.filter(enabled=True).values_list("pk", flat=True)) == pks[:1]
    assert _token() != after


@pytest.mark.django_db(transaction=True)
def test_list_editable_enabled_toggle_saves(admin_client, rows):
    url = reverse("admin:routing_provider_changelist")
    page = admin_client.get(url)
    formset = page.context["cl"].formset
    data = {"_save": "Save", **{f.html_name: f.value() for f in formset.management_form}}
    for form in formset.forms:
        data[form["id"].html_name] = form.instance.pk
        if form.instance.name != "acme":
            data[form["enabled"].html_name] = "on"
    before = _token()

    assert admin_client.post(url, data).status_code == 302
    assert set(Provider.objects.filter(enabled=False).values_list("name", flat=True)) == {"acme"}
    assert _token() != before
