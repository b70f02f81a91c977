"""The prompt strategies file: shipped defaults, canonical round trips, validation, prune, commands."""

from __future__ import annotations

import copy
from io import StringIO
from typing import Any

import pytest
import yaml
from django.core.management import CommandError, call_command

from prompts.config_io import (
    ConfigError,
    default_strategies_path,
    dumps_strategies,
    load_strategies_file,
    strategies_export,
    strategies_import,
)
from prompts.models import RoleStrategy
from routing.models import Role, RoleName


def shipped_text() -> str:
    return default_strategies_path().read_text(encoding="utf-8")


def shipped() -> dict[str, Any]:
    return yaml.safe_load(shipped_text())


def all_rows() -> dict[str, list[dict]]:
    return {
        "roles": list(Role.objects.order_by("pk").values()),
        "strategies": list(RoleStrategy.objects.order_by("pk").values()),
    }


# --- The shipped file ---------------------------------------------------------------------------------


def test_shipped_file_is_canonical():
    assert dumps_strategies(shipped()) == shipped_text()


def test_shipped_file_covers_every_role_in_canonical_order():
    roles = shipped()["roles"]

    assert list(roles) == RoleName.values
    for name, strategy in roles.items():
        assert len(strategy["system_prompt"]) > 150, name
        assert strategy["techniques"] and strategy["constraints"], name
        assert len(strategy["examples"]) == 1 and set(strategy["examples"][0]) == {"input", "output"}, name
        assert strategy["enabled"] is True


def test_multi_line_prompts_are_block_literals():
    assert "    system_prompt: |-\n      You are a senior software architect.\n" in shipped_text()


@pytest.mark.django_db
def test_shipped_file_imports_and_exports_byte_for_byte():
    summary = strategies_import(load_strategies_file(default_strategies_path()))

    assert summary.created["strategies"] == 8
    assert summary.created["roles"] == 8  # a strategy for a role without a Role row creates it
    assert dumps_strategies(strategies_export()) == shipped_text()


@pytest.mark.django_db
def test_import_stores_lists_one_per_line_and_examples_as_json():
    strategies_import(shipped())
    row = RoleStrategy.objects.get(role__name="debugging")
    doc = shipped()["roles"]["debugging"]

    assert row.techniques == "\n".join(doc["techniques"])
    assert RoleStrategy.split_lines(row.constraints) == doc["constraints"]
    assert row.examples == doc["examples"]
    assert row.system_prompt == doc["system_prompt"]
    assert row.enabled


@pytest.mark.django_db
def test_import_reuses_existing_roles():
    Role.objects.create(name="architect", description="kept")

    summary = strategies_import(shipped())

    assert summary.created["roles"] == 7
    assert Role.objects.get(name="architect").description == "kept"
    assert Role.objects.count() == 8


# --- Idempotency and round trips ---------------------------------------------------------------------


@pytest.mark.django_db
def test_importing_twice_changes_nothing(django_capture_on_commit_callbacks):
    strategies_import(shipped())
    before = all_rows()

    with django_capture_on_commit_callbacks() as callbacks:
        summary = strategies_import(shipped())

    assert all_rows() == before
    assert not summary.changed
    assert summary.unchanged["strategies"] == 8
    assert callbacks == []


@pytest.mark.django_db
def test_export_import_export_is_byte_stable_after_admin_edits():
    strategies_import(shipped())
    row = RoleStrategy.objects.get(role__name="general")
    row.system_prompt = "\n  Be brief.   \r\nThen stop.  \n\n"
    row.techniques = "  one  \n\n two\n"
    row.examples = [{"input": "q", "output": "a\n  indented\n"}]
    row.enabled = False
    row.save()
    first = dumps_strategies(strategies_export())

    strategies_import(yaml.safe_load(first))
    second = dumps_strategies(strategies_export())

    assert second == first
    general = yaml.safe_load(first)["roles"]["general"]
    assert general["system_prompt"] == "Be brief.\nThen stop."
    assert general["techniques"] == ["one", "two"]
    assert general["examples"] == [{"input": "q", "output": "a\n  indented"}]
    assert general["enabled"] is False


def test_dumps_orders_roles_canonically():
    doc = shipped()
    doc["roles"] = {"zeta": copy.deepcopy(doc["roles"]["general"]), **dict(reversed(list(doc["roles"].items())))}

    assert list(yaml.safe_load(dumps_strategies(doc))["roles"]) == [*RoleName.values, "zeta"]


# --- Prune ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_prune_deletes_strategies_absent_from_the_file_but_keeps_roles():
    strategies_import(shipped())
    doc = shipped()
    del doc["roles"]["research"]

    assert not strategies_import(doc).deleted
    summary = strategies_import(doc, prune=True)

    assert summary.deleted["strategies"] == 1
    assert not RoleStrategy.objects.filter(role__name="research").exists()
    assert Role.objects.filter(name="research").exists()


# --- Validation -------------------------------------------------------------------------------------


def _edit(role: str, key: str, value: Any):
    def mutate(doc: dict) -> None:
        if value is _DELETE:
            del doc["roles"][role][key]
        else:
            doc["roles"][role][key] = value

    return mutate


_DELETE = object()

INVALID = {
    "missing system prompt": (
        _edit("architect", "system_prompt", _DELETE),
        "roles.architect.system_prompt: is required",
    ),
    "empty system prompt": (_edit("testing", "system_prompt", "   "), "roles.testing.system_prompt: must not be empty"),
    "technique with a newline": (
        _edit("debugging", "techniques", ["ok", "two\nlines"]),
        "roles.debugging.techniques[1]: must be a single line",
    ),
    "constraint not a string": (
        _edit("general", "constraints", [3]),
        "roles.general.constraints[0]: expected a string",
    ),
    "example without output": (
        _edit("research", "examples", [{"input": "q"}]),
        "roles.research.examples[0].output: is required",
    ),
    "enabled not a boolean": (_edit("general", "enabled", "yes"), "roles.general.enabled: expected true or false"),
    "unknown field": (_edit("general", "temperature", 0.2), "roles.general.temperature: unknown field"),
}


@pytest.mark.parametrize("case", list(INVALID), ids=list(INVALID))
def test_invalid_documents_name_the_bad_path(case):
    mutate, expected = INVALID[case]
    doc = shipped()
    mutate(doc)

    with pytest.raises(ConfigError) as excinfo:
        dumps_strategies(doc)

    assert expected in str(excinfo.value)


def test_bad_role_name_and_version():
    doc = shipped()
    doc["roles"]["Bad Role"] = doc["roles"]["general"]
    doc["version"] = 7

    with pytest.raises(ConfigError) as excinfo:
        dumps_strategies(doc)

    assert "version: unsupported version 7 (expected 1)" in excinfo.value.problems
    assert any(problem.startswith("roles.Bad Role: a role name is") for problem in excinfo.value.problems)


@pytest.mark.django_db
def test_an_invalid_document_writes_nothing():
    doc = shipped()
    doc["roles"]["general"]["examples"] = "none"

    with pytest.raises(ConfigError, match=r"roles\.general\.examples: expected a list"):
        strategies_import(doc)

    assert not Role.objects.exists()
    assert not RoleStrategy.objects.exists()


def test_malformed_yaml_is_a_config_error(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("version: 1\nroles:\n  general: [unclosed\n")

    with pytest.raises(ConfigError, match=r"broken.yaml: invalid YAML at line \d+"):
        load_strategies_file(path)


# --- Commands -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_import_and_export_commands(tmp_path):
    out = StringIO()
    call_command("import_strategies", stdout=out)
    assert "strategies: 8 created" in out.getvalue()
    assert out.getvalue().count("\n") == 1

    stdout, stderr = StringIO(), StringIO()
    call_command("export_strategies", stdout=stdout, stderr=stderr)
    assert stdout.getvalue() == shipped_text()
    assert "8 role strategies" in stderr.getvalue()

    target = tmp_path / "strategies.yaml"
    call_command("export_strategies", "--output", str(target), stdout=StringIO())
    assert target.read_text(encoding="utf-8") == shipped_text()


@pytest.mark.django_db
def test_import_strategies_prune_flag(tmp_path):
    call_command("import_strategies", stdout=StringIO())
    doc = shipped()
    del doc["roles"]["general"]
    path = tmp_path / "partial.yaml"
    path.write_text(dumps_strategies(doc), encoding="utf-8")

    call_command("import_strategies", str(path), "--prune", stdout=StringIO())

    assert RoleStrategy.objects.count() == 7


@pytest.mark.django_db
def test_import_strategies_command_reports_invalid_files(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\nroles:\n  general:\n    techniques: []\n", encoding="utf-8")

    with pytest.raises(CommandError, match=r"roles\.general\.system_prompt: is required"):
        call_command("import_strategies", str(path), stdout=StringIO())


@pytest.mark.django_db
def test_placement_round_trips_and_is_validated():
    doc = shipped()
    doc["roles"]["debugging"]["placement"] = "prepend"
    strategies_import(doc)
    assert RoleStrategy.objects.get(role__name="debugging").placement == "prepend"
    assert RoleStrategy.objects.get(role__name="testing").placement == "append"
    exported = strategies_export()
    assert exported["roles"]["debugging"]["placement"] == "prepend"
    assert "placement" not in exported["roles"]["testing"]  # the default is not written: the shipped file stays
    doc["roles"]["debugging"]["placement"] = "sideways"
    with pytest.raises(ConfigError) as error:
        strategies_import(doc)
    assert "roles.debugging.placement" in str(error.value)
