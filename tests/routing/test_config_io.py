"""The routing configuration file: shipped defaults, canonical round trips, validation, prune, commands."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from routing.config_io import (
    ConfigError,
    default_routing_path,
    dumps_routing,
    format_price,
    load_routing_file,
    routing_config_export,
    routing_config_import,
)
from routing.models import Model, ModelFallback, Profile, Provider, RankingEntry, Role, RoleName

DESIGN_PRIMARIES = {
    "architect": ("claude-3.5-sonnet", "anthropic"),
    "implementation": ("claude-3.5-sonnet", "anthropic"),
    "code_review": ("claude-3-opus", "anthropic"),
    "debugging": ("gpt-4o", "openai"),
    "testing": ("claude-3.5-sonnet", "anthropic"),
    "documentation": ("gemini-2.0-flash", "vertex"),
    "research": ("gemini-2.5-pro", "vertex"),
    "general": ("gemini-2.0-flash", "vertex"),
}


def shipped_text() -> str:
    return default_routing_path().read_text(encoding="utf-8")


def shipped() -> dict[str, Any]:
    return json.loads(shipped_text())


def all_rows() -> dict[str, list[dict]]:
    """Every routing row with every field (ids and updated_at included), for exact before/after checks."""
    return {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (Provider, Model, ModelFallback, Role, RankingEntry, Profile)
    } | {"profile_providers": list(Profile.providers.through.objects.order_by("pk").values())}


def model_index(doc: dict, model_id: str) -> int:
    return next(index for index, model in enumerate(doc["models"]) if model["id"] == model_id)


# --- The shipped file ---------------------------------------------------------------------------------


def test_shipped_file_is_canonical():
    assert dumps_routing(shipped()) == shipped_text()


def test_shipped_file_lists_the_design_providers():
    providers = {p["name"]: p for p in shipped()["providers"]}
    assert set(providers) == {"nanogpt", "openrouter", "openai", "xai", "ollama", "anthropic", "vertex", "gemini"}
    assert providers["nanogpt"]["tier"] == "free"
    assert providers["nanogpt"]["base_url"] == "https://nano-gpt.com/api/v1"
    assert providers["nanogpt"]["api_key_env"] == "NANOGPT_API_KEY"
    assert providers["ollama"]["api_key_env"] == ""
    assert providers["vertex"]["tier"] == "enterprise"
    assert providers["vertex"]["api_key_env"] == ""
    assert "service account" in providers["vertex"]["notes"]
    assert {p["kind"] for p in providers.values()} == {"openai_compatible", "anthropic", "vertex", "gemini"}


@pytest.mark.django_db
def test_shipped_file_imports_and_exports_byte_for_byte():
    summary = routing_config_import(load_routing_file(default_routing_path()))

    assert summary.created["providers"] == 8
    assert summary.created["roles"] == 8
    assert dumps_routing(routing_config_export()) == shipped_text()


@pytest.mark.django_db
@pytest.mark.parametrize("role", RoleName.values)
def test_each_role_has_the_design_primary_on_its_native_provider(role):
    routing_config_import(shipped())
    model_id, provider = DESIGN_PRIMARIES[role]

    first = RankingEntry.objects.select_related("model__provider").filter(role__name=role).order_by("position")[0]

    assert (first.position, first.kind) == (0, RankingEntry.Kind.PRIMARY)
    assert first.model.public_id == model_id
    assert first.model.provider.name == provider
    assert first.reason


@pytest.mark.django_db
@pytest.mark.parametrize("role", RoleName.values)
def test_each_role_falls_back_across_providers_and_has_a_free_tier(role):
    routing_config_import(shipped())
    entries = list(RankingEntry.objects.select_related("model__provider").filter(role__name=role))
    fallbacks = [e for e in entries if e.kind == RankingEntry.Kind.FALLBACK]
    free = [e for e in entries if e.kind == RankingEntry.Kind.FREE_TIER]

    assert 1 <= len(fallbacks) <= 3
    assert len({e.model.provider.name for e in entries}) >= 3
    assert free and all(e.model.provider.tier == "free" for e in free)
    assert any(e.model.provider.name == "nanogpt" for e in free)
    # primary first, then fallbacks, then free-tier alternatives
    assert [e.kind for e in sorted(entries, key=lambda e: e.position)] == (
        ["primary"] + ["fallback"] * len(fallbacks) + ["free_tier"] * len(free)
    )
    assert all(e.reason for e in entries)


@pytest.mark.django_db
def test_shipped_profiles_prefer_free_for_personal_and_enterprise_for_work():
    routing_config_import(shipped())
    profiles = {p.name: p for p in Profile.objects.all()}

    assert profiles["personal"].tier_order == ["free", "paid", "enterprise"]
    assert profiles["work"].tier_order == ["enterprise", "paid"]


@pytest.mark.django_db
def test_import_maps_fields_onto_the_rows():
    routing_config_import(shipped())
    sonnet = Model.objects.select_related("provider").get(public_id="claude-3.5-sonnet")

    assert sonnet.provider.name == "anthropic"
    assert sonnet.upstream_name == "claude-3-5-sonnet-20241022"
    assert sonnet.context_window == 200000
    assert (sonnet.input_price_per_mtok, sonnet.output_price_per_mtok) == (Decimal("3"), Decimal("15"))
    assert (sonnet.supports_json, sonnet.supports_tools, sonnet.supports_vision) == (True, True, True)
    assert [link.fallback.public_id for link in sonnet.fallback_links.order_by("position")] == [
        "nanogpt/claude-3.5-sonnet",
        "openrouter/anthropic/claude-3.5-sonnet",
    ]
    mini = Model.objects.get(public_id="gpt-4o-mini")
    assert (mini.input_price_per_mtok, mini.output_price_per_mtok) == (Decimal("0.15"), Decimal("0.6"))
    assert Provider.objects.get(name="ollama").api_key_env == ""


@pytest.mark.django_db
def test_shipped_embedding_models_import_with_their_kind_and_no_fallbacks():
    routing_config_import(shipped())
    embedders = Model.objects.filter(kind=Model.Kind.EMBEDDING)
    assert {m.public_id for m in embedders} >= {"text-embedding-3-small", "gemini-embedding-001"}
    # Vectors of two models are not comparable: an embedding model must not fall back to another model.
    assert not ModelFallback.objects.filter(model__in=embedders).exists()
    assert Model.objects.get(public_id="text-embedding-3-small").input_price_per_mtok == Decimal("0.02")
    exported = routing_config_export()
    small = exported["models"][model_index(exported, "text-embedding-3-small")]
    assert small["kind"] == "embedding" and "kind" not in exported["models"][model_index(exported, "gpt-4o")]


# --- Idempotency and round trips ---------------------------------------------------------------------


@pytest.mark.django_db
def test_importing_twice_changes_nothing(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as first_callbacks:
        routing_config_import(shipped())
    before = all_rows()

    with django_capture_on_commit_callbacks() as second_callbacks:
        summary = routing_config_import(shipped())

    assert all_rows() == before  # same ids, same values, same updated_at
    assert not summary.changed
    assert summary.unchanged["models"] == len(shipped()["models"])
    assert len(first_callbacks) == 1  # one config bump for the whole import
    assert second_callbacks == []  # nothing saved, so no bump


@pytest.mark.django_db
def test_export_import_export_is_byte_stable_after_admin_edits():
    routing_config_import(shipped())
    # Edits as an operator might make them in the admin, including values the file format must normalise.
    anthropic = Provider.objects.get(name="anthropic")
    extra = Model.objects.create(
        public_id="zz-custom",
        provider=anthropic,
        upstream_name="claude-custom",
        input_price_per_mtok=Decimal("0.500000"),
        output_price_per_mtok=Decimal("120.125"),
        supports_json=False,
        supports_vision=True,
    )
    ModelFallback.objects.create(model=extra, fallback=Model.objects.get(public_id="gpt-4o"), position=5)
    Profile.objects.get(name="work").providers.set(Provider.objects.filter(name__in=["vertex", "openai"]))
    first = dumps_routing(routing_config_export())

    routing_config_import(json.loads(first), prune=True)
    second = dumps_routing(routing_config_export())

    assert second == first
    exported = json.loads(first)
    custom = exported["models"][model_index(exported, "zz-custom")]
    assert (custom["input_price_per_mtok"], custom["output_price_per_mtok"]) == ("0.5", "120.125")
    assert custom["capabilities"] == ["tools", "vision"]
    assert exported["profiles"][1]["providers"] == ["openai", "vertex"]


@pytest.mark.django_db
def test_a_free_tier_quota_set_in_the_admin_survives_export_and_import_into_another_database():
    routing_config_import(shipped())
    Provider.objects.filter(name="nanogpt").update(monthly_token_quota=60000)
    text = dumps_routing(routing_config_export())
    exported = json.loads(text)
    quotas = {p["name"]: p.get("monthly_token_quota") for p in exported["providers"]}
    assert quotas["nanogpt"] == 60000 and quotas["openai"] is None  # written only where set

    Provider.objects.update(monthly_token_quota=None)  # as a fresh database would have it
    routing_config_import(exported)
    assert Provider.objects.get(name="nanogpt").monthly_token_quota == 60000
    assert dumps_routing(routing_config_export()) == text


@pytest.mark.django_db
def test_export_of_an_empty_database_reimports():
    text = dumps_routing(routing_config_export())

    assert json.loads(text) == {"version": 1, "providers": [], "models": [], "roles": {}, "profiles": []}
    assert not routing_config_import(json.loads(text)).changed


def test_dumps_orders_canonically_and_normalises_prices():
    doc = shipped()
    doc["providers"].reverse()
    doc["models"].reverse()
    doc["roles"] = dict(reversed(list(doc["roles"].items())))
    doc["models"][0]["capabilities"].reverse()
    doc["models"][0]["input_price_per_mtok"] = float(doc["models"][0]["input_price_per_mtok"])  # 2.5
    sonnet = doc["models"][model_index(doc, "claude-3.5-sonnet")]
    sonnet["input_price_per_mtok"] = "3.000000"

    assert dumps_routing(doc) == shipped_text()


def test_dumps_puts_unknown_roles_after_the_canonical_eight():
    doc = shipped()
    doc["roles"] = {"aaa_custom": copy.deepcopy(doc["roles"]["general"]), **doc["roles"]}

    assert list(json.loads(dumps_routing(doc))["roles"]) == [*RoleName.values, "aaa_custom"]


@pytest.mark.parametrize(
    ("value", "text"),
    [("3", "3"), ("3.000000", "3"), ("0.15", "0.15"), ("2.50", "2.5"), ("100", "100"), ("0.000000", "0")],
)
def test_format_price(value, text):
    assert format_price(Decimal(value)) == text


# --- Updates, replacement, prune ---------------------------------------------------------------------


@pytest.mark.django_db
def test_reimport_updates_changed_rows_and_replaces_rankings_and_fallbacks():
    routing_config_import(shipped())
    doc = shipped()
    sonnet = doc["models"][model_index(doc, "claude-3.5-sonnet")]
    sonnet["output_price_per_mtok"] = "16"
    sonnet["fallbacks"] = ["openrouter/anthropic/claude-3.5-sonnet"]
    doc["roles"]["architect"]["fallbacks"] = [{"model": "gemini-2.5-pro", "reason": "swapped"}]

    summary = routing_config_import(doc)

    assert summary.updated["models"] == 1
    assert summary.updated["roles"] == 1
    row = Model.objects.get(public_id="claude-3.5-sonnet")
    assert row.output_price_per_mtok == Decimal("16")
    assert [link.fallback.public_id for link in row.fallback_links.all()] == ["openrouter/anthropic/claude-3.5-sonnet"]
    ranking = RankingEntry.objects.filter(role__name="architect").order_by("position")
    assert [(e.model.public_id, e.kind, e.position) for e in ranking] == [
        ("claude-3.5-sonnet", "primary", 0),
        ("gemini-2.5-pro", "fallback", 1),
        ("nanogpt/claude-3.5-sonnet", "free_tier", 2),
        ("nanogpt/claude-sonnet-4.5", "free_tier", 3),
    ]
    assert ranking[1].reason == "swapped"


@pytest.mark.django_db
def test_prune_removes_rows_absent_from_the_file():
    routing_config_import(shipped())
    extra_provider = Provider.objects.create(name="legacy", base_url="https://legacy.example/v1", tier="paid")
    Model.objects.create(public_id="legacy-model", provider=extra_provider, upstream_name="old")
    Model.objects.create(public_id="orphan-on-openai", provider=Provider.objects.get(name="openai"), upstream_name="o")
    Profile.objects.create(name="lab", tiers="paid")
    doc = shipped()
    doc["models"].pop(model_index(doc, "grok-3"))
    doc["roles"]["research"]["fallbacks"] = [f for f in doc["roles"]["research"]["fallbacks"] if f["model"] != "grok-3"]

    kept = routing_config_import(doc)  # without --prune nothing is deleted
    assert not kept.deleted
    assert Provider.objects.filter(name="legacy").exists()
    assert Model.objects.filter(public_id="grok-3").exists()

    summary = routing_config_import(doc, prune=True)

    assert summary.deleted["models"] == 3  # legacy-model, orphan-on-openai, grok-3
    assert summary.deleted["providers"] == 1
    assert summary.deleted["profiles"] == 1
    assert not Provider.objects.filter(name="legacy").exists()
    assert not Model.objects.filter(public_id__in=["legacy-model", "orphan-on-openai", "grok-3"]).exists()
    assert not Profile.objects.filter(name="lab").exists()
    assert Provider.objects.filter(name="xai").exists()  # still listed, even with no model left
    assert dumps_routing(routing_config_export()) == dumps_routing(doc)


@pytest.mark.django_db
def test_prune_clears_rankings_of_roles_absent_from_the_file_but_keeps_the_role():
    routing_config_import(shipped())
    doc = shipped()
    del doc["roles"]["research"]

    routing_config_import(doc, prune=True)

    assert Role.objects.filter(name="research").exists()
    assert not RankingEntry.objects.filter(role__name="research").exists()
    assert "research" not in routing_config_export()["roles"]


# --- Validation -------------------------------------------------------------------------------------


def _set(path: tuple, value: Any):
    def mutate(doc: dict) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _del(path: tuple):
    def mutate(doc: dict) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


INVALID = {
    "unknown provider": (_set(("models", 3, "provider"), "x"), "models[3].provider: unknown provider 'x'"),
    "unknown model in a ranking": (
        _set(("roles", "architect", "fallbacks", 0, "model"), "nope"),
        "roles.architect.fallbacks[0].model: unknown model 'nope'",
    ),
    "unknown model as primary": (
        _set(("roles", "general", "primary", "model"), "ghost"),
        "roles.general.primary.model: unknown model 'ghost'",
    ),
    "bad tier": (_set(("providers", 2, "tier"), "gold"), "providers[2].tier: unknown tier 'gold'"),
    "bad kind": (_set(("providers", 0, "kind"), "grpc"), "providers[0].kind: unknown kind 'grpc'"),
    "missing primary": (_del(("roles", "debugging", "primary")), "roles.debugging.primary: is required"),
    "bad profile tier": (_set(("profiles", 0, "tiers"), ["free", "platinum"]), "profiles[0].tiers[1]: unknown tier"),
    "unknown profile provider": (
        _set(("profiles", 1, "providers"), ["vertex", "azure"]),
        "profiles[1].providers[1]: unknown provider 'azure'",
    ),
    "unknown model fallback": (
        _set(("models", 0, "fallbacks"), ["missing"]),
        "models[0].fallbacks[0]: unknown model 'missing'",
    ),
    "bad price": (_set(("models", 1, "input_price_per_mtok"), "cheap"), "models[1].input_price_per_mtok"),
    "negative price": (_set(("models", 1, "output_price_per_mtok"), "-1"), "models[1].output_price_per_mtok"),
    "too many decimals": (
        _set(("models", 1, "output_price_per_mtok"), "0.0000001"),
        "models[1].output_price_per_mtok: at most 6 decimal places",
    ),
    "bad capability": (_set(("models", 2, "capabilities"), ["json", "audio"]), "models[2].capabilities[1]"),
    "bad key variable": (_set(("providers", 0, "api_key_env"), "sk-live-123"), "providers[0].api_key_env"),
    "bad url": (_set(("providers", 1, "base_url"), "not a url"), "providers[1].base_url"),
    "bad provider name": (_set(("providers", 1, "name"), "Bad Name"), "providers[1].name"),
    "typo in a field": (_set(("roles", "testing", "fallback"), []), "roles.testing.fallback: unknown field"),
    "bad version": (_set(("version",), 2), "version: unsupported version 2"),
    "roles not a mapping": (_set(("roles",), []), "roles: expected an object"),
    "enabled not a boolean": (_set(("models", 0, "enabled"), "yes"), "models[0].enabled: expected true or false"),
    "bad model kind": (_set(("models", 0, "kind"), "audio"), "models[0].kind: unknown model kind 'audio'"),
    "negative quota": (_set(("providers", 0, "monthly_token_quota"), -1),
                       "providers[0].monthly_token_quota: expected a whole number of tokens"),
    "quota as text": (_set(("providers", 0, "monthly_token_quota"), "60k"),
                      "providers[0].monthly_token_quota: expected a whole number of tokens"),
    "quota as a boolean": (_set(("providers", 0, "monthly_token_quota"), True),
                           "providers[0].monthly_token_quota: expected a whole number of tokens"),
}


@pytest.mark.parametrize("case", list(INVALID), ids=list(INVALID))
def test_invalid_documents_name_the_bad_path(case):
    mutate, expected = INVALID[case]
    doc = shipped()
    mutate(doc)

    with pytest.raises(ConfigError) as excinfo:
        dumps_routing(doc)

    assert expected in str(excinfo.value)


def test_duplicates_are_reported():
    doc = shipped()
    doc["models"].append(copy.deepcopy(doc["models"][0]))
    doc["roles"]["general"]["fallbacks"].append({"model": "gemini-2.0-flash", "reason": ""})

    with pytest.raises(ConfigError) as excinfo:
        dumps_routing(doc)

    problems = excinfo.value.problems
    assert f"models[{len(doc['models']) - 1}].id: duplicate model id 'claude-3-opus'" in problems
    assert any(
        p.startswith("roles.general.fallbacks[2].model: model 'gemini-2.0-flash' is ranked twice") for p in problems
    )


def test_every_problem_is_listed():
    doc = shipped()
    doc["models"][3]["provider"] = "x"
    doc["providers"][0]["tier"] = "gold"

    with pytest.raises(ConfigError) as excinfo:
        dumps_routing(doc)

    assert len(excinfo.value.problems) == 2
    assert str(excinfo.value).startswith("2 problems: ")


@pytest.mark.django_db
def test_an_invalid_document_writes_nothing():
    routing_config_import(shipped())
    before = all_rows()
    doc = shipped()
    doc["models"][0]["output_price_per_mtok"] = "99"  # a valid change...
    doc["roles"]["general"]["primary"]["model"] = "ghost"  # ...in a document that is invalid elsewhere

    with pytest.raises(ConfigError):
        routing_config_import(doc)

    assert all_rows() == before


def test_malformed_json_is_a_config_error(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"version": 1,\n  "providers": [,]}')

    with pytest.raises(ConfigError, match=r"broken.json: invalid JSON at line 2"):
        load_routing_file(path)


# --- Commands -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_import_and_export_commands(tmp_path):
    out = StringIO()
    call_command("import_routing", stdout=out)
    assert "providers: 8 created" in out.getvalue()
    assert out.getvalue().count("\n") == 1

    stdout, stderr = StringIO(), StringIO()
    call_command("export_routing", stdout=stdout, stderr=stderr)
    assert stdout.getvalue() == shipped_text()
    assert "8 providers" in stderr.getvalue()

    target = tmp_path / "routing.json"
    call_command("export_routing", "--output", str(target), stdout=StringIO())
    assert target.read_text(encoding="utf-8") == shipped_text()


@pytest.mark.django_db
def test_import_routing_prune_flag(tmp_path):
    call_command("import_routing", stdout=StringIO())
    Profile.objects.create(name="lab", tiers="paid")
    out = StringIO()

    call_command("import_routing", str(default_routing_path()), "--prune", stdout=out)

    assert "profiles: 2 unchanged, 1 deleted" in out.getvalue()
    assert not Profile.objects.filter(name="lab").exists()


@pytest.mark.django_db
def test_import_routing_command_reports_invalid_files(tmp_path):
    doc = shipped()
    doc["models"][3]["provider"] = "x"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))

    with pytest.raises(CommandError, match=r"models\[3\]\.provider: unknown provider 'x'"):
        call_command("import_routing", str(path), stdout=StringIO())
    assert not Provider.objects.exists()


@pytest.mark.django_db
def test_load_default_config_imports_both_files():
    out = StringIO()
    call_command("load_default_config", stdout=out)

    assert Provider.objects.count() == 8
    assert Role.objects.count() == 8
    assert Role.objects.filter(strategy__isnull=False).count() == 8
    assert "Loaded default configuration" in out.getvalue()
    assert "strategies: 8 created" in out.getvalue()


@pytest.mark.django_db
def test_load_default_config_if_empty_loads_an_empty_database():
    call_command("load_default_config", "--if-empty", stdout=StringIO())

    assert Model.objects.count() == len(shipped()["models"])


@pytest.mark.django_db
def test_load_default_config_if_empty_keeps_operator_edits():
    call_command("load_default_config", stdout=StringIO())
    Model.objects.filter(public_id="gpt-4o").update(enabled=False)
    Model.objects.filter(public_id="grok-3").delete()
    before = all_rows()
    out = StringIO()

    call_command("load_default_config", "--if-empty", stdout=out)

    assert all_rows() == before
    assert "not loaded" in out.getvalue()


@pytest.mark.django_db
def test_load_default_config_if_empty_skips_when_any_provider_exists():
    Provider.objects.create(name="mine", base_url="https://example.com/v1")

    call_command("load_default_config", "--if-empty", stdout=StringIO())

    assert list(Provider.objects.values_list("name", flat=True)) == ["mine"]
    assert not Model.objects.exists()
