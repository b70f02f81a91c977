"""Per-role prompt strategies as a YAML document (config/prompt_strategies.yaml): validate, import, export.

Same contract as routing.config_io: the whole document is validated first (ConfigError naming the path),
then written in one transaction, upserting by role name and saving only what differs, so a second import
of the same document changes nothing. A strategy for a role with no Role row creates that row.

Text is normalised on the way in (surrounding blank lines and trailing spaces dropped), which is what
lets export → import → export be byte-stable and multi-line prompts be written as YAML block literals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.db import transaction

from prompts.models import RoleStrategy
from routing.config_io import upsert
from routing.config_io.document import (
    FORMAT_VERSION,
    ROLE_NAME_RE,
    Checker,
    ConfigError,
    ImportSummary,
    role_sort_key,
)
from routing.models import Role
from routing.services import config_bulk_edit

__all__ = [
    "ConfigError",
    "ImportSummary",
    "default_strategies_path",
    "dumps_strategies",
    "load_strategies_file",
    "parse_strategies",
    "strategies_export",
    "strategies_import",
]


def default_strategies_path() -> Path:
    return Path(settings.BASE_DIR) / "config" / "prompt_strategies.yaml"


def normalize_text(text: str) -> str:
    """Drop surrounding blank lines and trailing spaces on each line; keeps indentation inside."""
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines()).strip()


def parse_strategies(data: Any) -> dict[str, dict[str, Any]]:
    """Validate a strategies document; return {role: normalised strategy} in canonical role order.

    Raises ConfigError listing every problem with its path.
    """
    check = Checker()
    top = check.mapping(data, "", ("version", "roles"))
    if top is None:
        raise ConfigError(check.problems)
    version = top["version"]
    if isinstance(version, bool) or version != FORMAT_VERSION:
        check.fail("version", f"unsupported version {version!r} (expected {FORMAT_VERSION})")
    roles = top["roles"]
    result: dict[str, dict[str, Any]] = {}
    if not isinstance(roles, dict):
        check.fail("roles", "expected a mapping of role names to strategies")
        roles = {}
    for name, item in roles.items():
        path = f"roles.{name}"
        if not isinstance(name, str) or not ROLE_NAME_RE.match(name) or len(name) > 32:
            check.fail(path, "a role name is lower-case letters, digits and '_' (at most 32 characters)")
            continue
        row = check.mapping(
            item, path, ("system_prompt",), ("techniques", "constraints", "examples", "placement", "enabled")
        )
        if row is None:
            continue
        before = len(check.problems)
        prompt = check.string(row["system_prompt"], f"{path}.system_prompt", allow_empty=False)
        techniques = _lines(check, row.get("techniques", []), f"{path}.techniques")
        constraints = _lines(check, row.get("constraints", []), f"{path}.constraints")
        examples = []
        for index, example in enumerate(check.list_of(row.get("examples", []), f"{path}.examples")):
            ex_path = f"{path}.examples[{index}]"
            pair = check.mapping(example, ex_path, ("input", "output"))
            if pair is None:
                continue
            text_in = check.string(pair["input"], f"{ex_path}.input", allow_empty=False)
            text_out = check.string(pair["output"], f"{ex_path}.output", allow_empty=False)
            if text_in is not None and text_out is not None:
                examples.append({"input": normalize_text(text_in), "output": normalize_text(text_out)})
        enabled = check.boolean(row.get("enabled", True), f"{path}.enabled")
        placement = row.get("placement", RoleStrategy.Placement.APPEND)
        if placement not in RoleStrategy.Placement.values:
            check.fail(f"{path}.placement", f"one of {', '.join(RoleStrategy.Placement.values)}")
        if len(check.problems) == before:
            result[name] = {
                "system_prompt": normalize_text(prompt),
                "techniques": techniques,
                "constraints": constraints,
                "examples": examples,
                **({"placement": placement} if placement != RoleStrategy.Placement.APPEND else {}),
                "enabled": enabled,
            }
    check.raise_if_failed()
    return {name: result[name] for name in sorted(result, key=role_sort_key)}


def _lines(check: Checker, value: Any, path: str) -> list[str]:
    """A list of one-line strings: each is stored as one line of a TextField, so newlines are refused."""
    items = []
    for index, item in enumerate(check.list_of(value, path)):
        text = check.string(item, f"{path}[{index}]", allow_empty=False, single_line=True)
        if text is not None:
            items.append(text.strip())
    return items


def strategies_export() -> dict[str, Any]:
    """Every stored strategy as a document that `strategies_import` accepts, roles in canonical order."""
    rows = sorted(RoleStrategy.objects.select_related("role"), key=lambda s: role_sort_key(s.role.name))
    return {
        "version": FORMAT_VERSION,
        "roles": {
            row.role.name: {
                "system_prompt": row.system_prompt,
                "techniques": RoleStrategy.split_lines(row.techniques),
                "constraints": RoleStrategy.split_lines(row.constraints),
                "examples": row.examples if isinstance(row.examples, list) else [],
                **({"placement": row.placement} if row.placement != RoleStrategy.Placement.APPEND else {}),
                "enabled": row.enabled,
            }
            for row in rows
        },
    }


class _Dumper(yaml.SafeDumper):
    """SafeDumper writing multi-line strings as block literals (`|`); PyYAML itself falls back to a
    quoted style for text a block literal cannot hold, so the output stays deterministic."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dumps_strategies(data: dict[str, Any]) -> str:
    """The document as canonical YAML; validates and normalises first (ConfigError), so it re-imports."""
    canonical = {"version": FORMAT_VERSION, "roles": parse_strategies(data)}
    return yaml.dump(
        canonical,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1_000_000,
        indent=2,
    )


def load_strategies_file(path: str | Path) -> dict[str, Any]:
    """Read a strategies YAML file; unreadable or malformed YAML is a ConfigError naming file and line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{path}: invalid YAML{where}: {problem}"]) from exc


def strategies_import(data: dict[str, Any], *, prune: bool = False) -> ImportSummary:
    """Validate `data` whole, then upsert one strategy per role in a single transaction.

    Creates missing Role rows. With `prune`, strategies of roles absent from the document are deleted
    (the Role rows and their rankings stay).
    """
    strategies = parse_strategies(data)
    summary = ImportSummary()
    with config_bulk_edit(), transaction.atomic():
        for name, strategy in strategies.items():
            role, role_status = upsert(Role, {"name": name}, {})
            if role_status == "created":
                summary.record("roles", "created")
            _, status = upsert(
                RoleStrategy,
                {"role": role},
                {
                    "system_prompt": strategy["system_prompt"],
                    "techniques": "\n".join(strategy["techniques"]),
                    "constraints": "\n".join(strategy["constraints"]),
                    "examples": strategy["examples"],
                    "placement": strategy.get("placement", RoleStrategy.Placement.APPEND),
                    "enabled": strategy["enabled"],
                },
            )
            summary.record("strategies", status)
        if prune:
            stale = RoleStrategy.objects.exclude(role__name__in=list(strategies))
            count = stale.count()
            if count:
                stale.delete()
                summary.deleted["strategies"] += count
    return summary
