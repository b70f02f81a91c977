"""Import and export of the configuration files from the admin: the same documents and the same code as the
`export_routing` / `import_routing` and `export_strategies` / `import_strategies` commands.

An import is planned before it is applied: the uploaded text is parsed and validated whole (an error names
the line, or the JSON path and field, and nothing is written), then compared with what is stored, by
natural key, into what would be created, changed and deleted. Applying re-validates the same text.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from prompts.config_io import dumps_strategies, parse_strategies, strategies_export, strategies_import
from routing.config_io import ConfigError, ImportSummary, dumps_routing, routing_config_export, routing_config_import
from routing.config_io.document import parse_routing


@dataclass(frozen=True)
class Document:
    """One of the two configuration files the admin can export and import."""

    slug: str
    title: str
    filename: str
    content_type: str

    def export_text(self) -> str:
        if self.slug == "routing":
            return dumps_routing(routing_config_export())
        return dumps_strategies(strategies_export())

    def parse_text(self, text: str) -> Any:
        """The uploaded text as data; ConfigError naming the line when it is not JSON / YAML."""
        if self.slug == "routing":
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError([f"{self.filename}: invalid JSON at line {exc.lineno} column {exc.colno}: "
                                   f"{exc.msg}"]) from exc
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigError([f"{self.filename}: invalid YAML{where}: {problem}"]) from exc

    def sections(self, data: Any) -> dict[str, dict[str, Any]]:
        """The validated document as {section: {natural key: item}} (ConfigError with paths otherwise)."""
        if self.slug == "routing":
            canonical = parse_routing(data).canonical()
            return {
                "providers": {p["name"]: p for p in canonical["providers"]},
                "models": {m["id"]: m for m in canonical["models"]},
                "roles": dict(canonical["roles"]),
                "profiles": {p["name"]: p for p in canonical["profiles"]},
            }
        return {"strategies": parse_strategies(data)}

    def apply(self, data: Any, *, prune: bool) -> ImportSummary:
        if self.slug == "routing":
            return routing_config_import(data, prune=prune)
        return strategies_import(data, prune=prune)

    def canonical_text(self, data: Any) -> str:
        return dumps_routing(data) if self.slug == "routing" else dumps_strategies(data)


DOCUMENTS = {
    "routing": Document("routing", "Routing (providers, models, rankings, profiles)", "model_routing.json",
                        "application/json"),
    "strategies": Document("strategies", "Prompt strategies", "prompt_strategies.yaml", "application/yaml"),
}


@dataclass
class ImportPlan:
    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # "models gpt-x: context_window, enabled"
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # stored but not in the file, left alone without prune
    text_diff: str = ""

    @property
    def empty(self) -> bool:
        return not (self.created or self.changed or self.deleted)


def plan_import(document: Document, text: str, *, prune: bool) -> ImportPlan:
    """What importing `text` would do. Raises ConfigError (nothing written) when the text is invalid."""
    data = document.parse_text(text)
    new = document.sections(data)
    old = document.sections(_stored(document))
    plan = ImportPlan()
    for section, items in new.items():
        stored = old.get(section, {})
        for key, item in items.items():
            if key not in stored:
                plan.created.append(f"{section} {key}")
            elif stored[key] != item:
                names = set(item) | set(stored[key])
                fields = sorted(name for name in names if item.get(name) != stored[key].get(name))
                plan.changed.append(f"{section} {key}: {', '.join(fields)}")
        for key in stored:
            if key not in items:
                (plan.deleted if prune and section != "roles" else plan.kept).append(f"{section} {key}")
    if prune and document.slug == "routing":
        # Roles stay (strategies hang off them); pruning clears the ranking of a role absent from the file.
        plan.deleted.extend(f"roles {key}: ranking cleared" for key in old["roles"] if key not in new["roles"])
        plan.kept = [item for item in plan.kept if not item.startswith("roles ")]
    current = document.export_text()
    plan.text_diff = "".join(difflib.unified_diff(
        current.splitlines(keepends=True), document.canonical_text(data).splitlines(keepends=True),
        fromfile=f"stored {document.filename}", tofile=f"uploaded {document.filename}",
    ))
    return plan


def apply_import(document: Document, text: str, *, prune: bool) -> ImportSummary:
    """Validate the text again (it came back from the browser) and write it in one transaction."""
    return document.apply(document.parse_text(text), prune=prune)


def _stored(document: Document) -> dict:
    return routing_config_export() if document.slug == "routing" else strategies_export()
