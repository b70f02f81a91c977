"""Reads for research: sources with their effective URLs, reviewed aliases, weights, runs (sync ORM)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from research.models import ModelAlias, ResearchRun, ResearchSource, RoleWeight, ScoringParameter
from research.scoring import ResearchWeights, load_weights_file, weights_from_dict

NONE_ALIAS = "none"  # research.matching reads this alias value as "not in the catalogue"


def source_env_prefix(name: str) -> str:
    """`aider` → `RESEARCH_AIDER`: the prefix of a source's URL overrides."""
    return "RESEARCH_" + name.upper().replace("-", "_")


@dataclass(frozen=True, slots=True)
class SourceURLs:
    url: str
    documents: dict[str, str] = field(default_factory=dict)
    overridden: tuple[str, ...] = ()  # the environment variables that replaced a row's URL


def source_urls(source: ResearchSource) -> SourceURLs:
    """The URLs a run fetches for a source: the row's, unless RESEARCH_<NAME>[_<DOC>]_URL is set."""
    prefix = source_env_prefix(source.name)
    overridden: list[str] = []
    url = source.url
    if value := os.environ.get(f"{prefix}_URL", "").strip():
        url = value
        overridden.append(f"{prefix}_URL")
    documents: dict[str, str] = {}
    for name, row_url in sorted((source.documents or {}).items()):
        variable = f"{prefix}_{str(name).upper()}_URL"
        if value := os.environ.get(variable, "").strip():
            documents[str(name)] = value
            overridden.append(variable)
        else:
            documents[str(name)] = str(row_url)
    return SourceURLs(url, documents, tuple(overridden))


def sources_enabled() -> list[ResearchSource]:
    return list(ResearchSource.objects.filter(enabled=True).order_by("name"))


def reviewed_aliases() -> dict[str | None, dict[str, str]]:
    """Per source name (None: the gateway's model rows), published name → identity or `none`."""
    result: dict[str | None, dict[str, str]] = {}
    for source_name, name, identity in ModelAlias.objects.filter(reviewed=True).values_list(
        "source__name", "published_name", "identity"
    ):
        result.setdefault(source_name, {})[name] = identity.strip() or NONE_ALIAS
    return result


def weights_document() -> dict[str, Any] | None:
    """The weights in the database as a weights-file mapping; None when no role weight is stored."""
    rows = list(RoleWeight.objects.order_by("role", "family").values_list("role", "family", "weight"))
    if not rows:
        return None
    document: dict[str, Any] = {"version": 1, "roles": {}}
    for role, family, weight in rows:
        document["roles"].setdefault(role, {})[family] = weight
    profiles: dict[str, float] = {}
    cost: dict[str, float] = {}
    for name, value in ScoringParameter.objects.order_by("name").values_list("name", "value"):
        head, _, rest = name.partition(".")
        if head == "profiles":
            profiles[rest] = value
        elif head == "cost":
            cost[rest] = value
        else:
            document[name] = value
    if profiles:
        document["profiles"] = profiles
    if cost:
        document["cost"] = cost
    return document


def weights_current() -> tuple[ResearchWeights, str]:
    """The weights a run uses and where they came from. Raises WeightsError for invalid stored weights."""
    document = weights_document()
    if document is None:
        return load_weights_file(), "config/research_weights.yaml (no weights in the database yet)"
    return weights_from_dict(document), "the database (admin: Research › Role weights)"


def active_run() -> ResearchRun | None:
    return ResearchRun.objects.filter(active=True).first()


def latest_run() -> ResearchRun | None:
    return ResearchRun.objects.order_by("-id").first()


def latest_succeeded_run() -> ResearchRun | None:
    return ResearchRun.objects.filter(status=ResearchRun.Status.SUCCEEDED).order_by("-id").first()


def run_report(run: ResearchRun) -> dict[str, Any]:
    """A run as the status endpoint and `manage.py research status` show it."""
    return {
        "id": run.pk,
        "mode": run.mode,
        "status": run.status,
        "progress": run.progress,
        "stage": run.stage,
        "triggered_by": run.triggered_by,
        "worker": run.worker,
        "created_at": _iso(run.created_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "summary": run.summary,
        "error": run.error,
        "changed_roles": run.changed_roles,
        "names": {"matched": run.matched_count, "unmatched": run.unmatched_count, "ambiguous": run.ambiguous_count},
        "sources": [
            {key: source.get(key) for key in ("name", "kind", "status", "records", "error")}
            for source in run.sources
        ],
        "reverted_at": _iso(run.reverted_at),
        "admin_url": f"/admin/research/researchrun/{run.pk}/change/",
    }


def status_report() -> dict[str, Any]:
    active = active_run()
    latest = latest_run()
    return {
        "active": run_report(active) if active else None,
        "latest": run_report(latest) if latest else None,
    }


def _iso(value) -> str | None:
    return value.isoformat() if value else None
