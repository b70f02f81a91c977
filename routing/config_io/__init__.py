"""The routing configuration as a JSON document (data/model_routing.json): import and export.

Contract: a document is validated as a whole before anything is written, so a bad file never leaves
the database half-updated. Rows are upserted by natural key (provider name, model id, role name,
profile name) and saved only when a value differs, so importing the same document twice changes
nothing (not even ``updated_at``) and does not bump the routing version. The ORM's post_save /
post_delete signals notify the routing snapshot.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import transaction

from routing.config_io.document import (
    FORMAT_VERSION,
    ConfigError,
    ImportSummary,
    RoutingDoc,
    default_routing_path,
    format_price,
    parse_routing,
    role_sort_key,
)
from routing.models import (
    Model,
    ModelAlias,
    ModelFallback,
    Profile,
    Provider,
    RankingEntry,
    Role,
)
from routing.services import RankingSpec, config_bulk_edit, ranking_replace

__all__ = [
    "ConfigError",
    "ImportSummary",
    "default_routing_path",
    "dumps_routing",
    "load_routing_file",
    "routing_config_export",
    "routing_config_import",
    "upsert",
]


def routing_config_export() -> dict[str, Any]:
    """The routing rows as a canonical document that `routing_config_import` accepts.

    A role's ranking is read in position order: its first 'primary' entry becomes `primary` (or, when an
    operator left none, its first entry), free-tier entries become `free_tier`, everything else
    `fallbacks`. Roles without any ranking entry are left out (they carry only a strategy).
    """
    providers = [
        {
            "name": p.name,
            "kind": p.kind,
            "base_url": p.base_url,
            "api_key_env": p.api_key_env,
            "tier": p.tier,
            "timeout_seconds": float(p.timeout_seconds),
            "enabled": p.enabled,
            "notes": p.notes,
            **({"monthly_token_quota": p.monthly_token_quota} if p.monthly_token_quota is not None else {}),
        }
        for p in Provider.objects.order_by("name")
    ]
    models = []
    for m in (
        Model.objects.select_related("provider").prefetch_related("fallback_links__fallback").order_by("public_id")
    ):
        links = sorted(m.fallback_links.all(), key=lambda link: (link.position, link.pk))
        capabilities = [
            cap
            for cap, on in (
                ("json", m.supports_json),
                ("tools", m.supports_tools),
                ("vision", m.supports_vision),
            )
            if on
        ]
        models.append(
            {
                "id": m.public_id,
                "provider": m.provider.name,
                "upstream": m.upstream_name,
                "context_window": m.context_window,
                "input_price_per_mtok": format_price(Decimal(m.input_price_per_mtok)),
                "output_price_per_mtok": format_price(Decimal(m.output_price_per_mtok)),
                "capabilities": capabilities,
                "enabled": m.enabled,
                "fallbacks": [link.fallback.public_id for link in links],
                **({"kind": m.kind} if m.kind != "chat" else {}),
            }
        )
    roles: dict[str, Any] = {}
    for role in sorted(Role.objects.prefetch_related("ranking__model"), key=lambda r: role_sort_key(r.name)):
        entries = sorted(role.ranking.all(), key=lambda e: (e.position, e.pk))
        if not entries:
            continue
        primary = next((e for e in entries if e.kind == RankingEntry.Kind.PRIMARY), entries[0])
        rest = [e for e in entries if e is not primary]
        roles[role.name] = {
            "description": role.description,
            "primary": _rank_entry(primary),
            "fallbacks": [_rank_entry(e) for e in rest if e.kind != RankingEntry.Kind.FREE_TIER],
            "free_tier": [_rank_entry(e) for e in rest if e.kind == RankingEntry.Kind.FREE_TIER],
        }
    profiles = [
        {
            "name": p.name,
            "description": p.description,
            "tiers": p.tier_order,
            "providers": sorted(provider.name for provider in p.providers.all()),
        }
        for p in Profile.objects.prefetch_related("providers").order_by("name")
    ]
    targets: dict[str, list[str]] = {}
    notes: dict[str, str] = {}
    for alias in ModelAlias.objects.order_by("pattern", "position", "id"):
        targets.setdefault(alias.pattern, []).append(alias.target)
        notes[alias.pattern] = notes.get(alias.pattern) or alias.notes
    aliases = [{"pattern": pattern, "targets": found, **({"notes": notes[pattern]} if notes[pattern] else {})}
               for pattern, found in targets.items()]
    return {
        "version": FORMAT_VERSION,
        "providers": providers,
        "models": models,
        "roles": roles,
        "profiles": profiles,
        **({"aliases": aliases} if aliases else {}),
    }


def dumps_routing(data: dict[str, Any]) -> str:
    """The document as canonical JSON text; validates first (ConfigError), so what it writes re-imports."""
    canonical = parse_routing(data).canonical()
    return json.dumps(canonical, indent=2, ensure_ascii=False) + "\n"


def load_routing_file(path: str | Path) -> dict[str, Any]:
    """Read a routing JSON file; unreadable or malformed JSON is a ConfigError naming file and line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError([f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"]) from exc


# --- Import ----------------------------------------------------------------------------------------


def upsert(model_cls, lookup: dict[str, Any], values: dict[str, Any]) -> tuple[Any, str]:
    """Create the row, or save only the fields that differ. Returns (row, created|updated|unchanged).

    Saving nothing when nothing differs keeps imports idempotent: no new `updated_at`, no signal.
    """
    row = model_cls.objects.filter(**lookup).first()
    if row is None:
        return model_cls.objects.create(**lookup, **values), "created"
    changed = [name for name, value in values.items() if getattr(row, name) != value]
    if not changed:
        return row, "unchanged"
    for name in changed:
        setattr(row, name, values[name])
    if any(f.name == "updated_at" for f in model_cls._meta.concrete_fields):
        changed.append("updated_at")
    row.save(update_fields=changed)
    return row, "updated"


def routing_config_import(data: dict[str, Any], *, prune: bool = False) -> ImportSummary:
    """Validate `data` whole, then write it in one transaction. Raises ConfigError before any write.

    Upserts by natural key; each model's fallbacks and each listed role's ranking are replaced by the
    document's (primary at position 0, then fallbacks, then free-tier alternatives). With `prune`, the
    database mirrors the document: providers, models and profiles absent from it are deleted, and roles
    absent from it lose their ranking (the Role rows stay: strategies hang off them).
    """
    doc = parse_routing(data)
    summary = ImportSummary()
    with config_bulk_edit(), transaction.atomic():
        providers = {}
        for p in doc.providers:
            providers[p.name], status = upsert(
                Provider,
                {"name": p.name},
                {
                    "kind": p.kind,
                    "base_url": p.base_url,
                    "api_key_env": p.api_key_env,
                    "tier": p.tier,
                    "timeout_seconds": p.timeout_seconds,
                    "enabled": p.enabled,
                    "notes": p.notes,
                    "monthly_token_quota": p.monthly_token_quota,
                },
            )
            summary.record("providers", status)

        models: dict[str, Model] = {}
        model_status: dict[str, str] = {}
        for m in doc.models:
            models[m.id], model_status[m.id] = upsert(
                Model,
                {"public_id": m.id},
                {
                    "provider_id": providers[m.provider].pk,
                    "upstream_name": m.upstream,
                    "context_window": m.context_window,
                    "input_price_per_mtok": m.input_price_per_mtok,
                    "output_price_per_mtok": m.output_price_per_mtok,
                    "supports_json": "json" in m.capabilities,
                    "supports_tools": "tools" in m.capabilities,
                    "supports_vision": "vision" in m.capabilities,
                    "kind": m.kind,
                    "enabled": m.enabled,
                },
            )
        for m in doc.models:
            row = models[m.id]
            wanted = [(models[fallback].pk, position) for position, fallback in enumerate(m.fallbacks)]
            current = list(row.fallback_links.order_by("position", "id").values_list("fallback_id", "position"))
            if current != wanted:
                row.fallback_links.all().delete()
                for fallback_pk, position in wanted:
                    ModelFallback.objects.create(model=row, fallback_id=fallback_pk, position=position)
                if model_status[m.id] == "unchanged":
                    model_status[m.id] = "updated"
            summary.record("models", model_status[m.id])

        for r in doc.roles:
            role, status = upsert(Role, {"name": r.name}, {"description": r.description})
            wanted_ranking = [
                (models[entry.model].pk, kind, position, entry.reason, entry.pinned)
                for position, (kind, entry) in enumerate(r.ranking())
            ]
            current_ranking = list(role.ranking.order_by("position", "id").values_list(
                "model_id", "kind", "position", "reason", "pinned"
            ))
            if current_ranking != wanted_ranking:
                # Through the one ranking write: one history revision per role (routing.ranking_history).
                ranking_replace(role=r.name, change_reason="import", entries=[
                    RankingSpec(model=entry.model, kind=kind, reason=entry.reason, pinned=entry.pinned)
                    for kind, entry in r.ranking()
                ])
                if status == "unchanged":
                    status = "updated"
            summary.record("roles", status)

        for p in doc.profiles:
            profile, status = upsert(
                Profile, {"name": p.name}, {"description": p.description, "tiers": ",".join(p.tiers)}
            )
            wanted_providers = {providers[name].pk for name in p.providers}
            if set(profile.providers.values_list("pk", flat=True)) != wanted_providers:
                profile.providers.set(wanted_providers)
                if status == "unchanged":
                    status = "updated"
            summary.record("profiles", status)

        for a in doc.aliases:
            summary.record("aliases", _import_alias(a))

        if prune:
            _prune(doc, summary)
    return summary


def _import_alias(alias) -> str:
    """The pattern's rows become the document's targets, in order (notes on the first); unchanged when equal."""
    wanted = [(target, position, alias.notes if position == 0 else "") for position, target in
              enumerate(alias.targets)]
    rows = ModelAlias.objects.filter(pattern=alias.pattern).order_by("position", "id")
    current = list(rows.values_list("target", "position", "notes"))
    if current == wanted:
        return "unchanged"
    rows.delete()
    for target, position, notes in wanted:
        ModelAlias.objects.create(pattern=alias.pattern, target=target, position=position, notes=notes)
    return "updated" if current else "created"


def _prune(doc: RoutingDoc, summary: ImportSummary) -> None:
    """Delete what the document does not list. Models first, so each deletion is counted once."""
    stale_rankings = RankingEntry.objects.exclude(role__name__in=[r.name for r in doc.roles])
    cleared_roles = set(stale_rankings.values_list("role_id", flat=True))
    stale_rankings.delete()
    summary.deleted["role rankings"] += len(cleared_roles)
    for kind, queryset in (
        ("models", Model.objects.exclude(public_id__in=[m.id for m in doc.models])),
        ("providers", Provider.objects.exclude(name__in=[p.name for p in doc.providers])),
        ("profiles", Profile.objects.exclude(name__in=[p.name for p in doc.profiles])),
        ("aliases", ModelAlias.objects.exclude(pattern__in=[a.pattern for a in doc.aliases])),
    ):
        count = queryset.count()
        if count:
            queryset.delete()
            summary.deleted[kind] += count


def _rank_entry(entry: RankingEntry) -> dict:
    return {"model": entry.model.public_id, "reason": entry.reason, **({"pinned": True} if entry.pinned else {})}
