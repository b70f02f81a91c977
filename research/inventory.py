"""What the gateway can call, as research sees it: model rows, what configured providers list, and the
guarded catalogue facts (prices, context windows) their lists bring.

- Callable: a provider is *configured* when enabled, of a kind the gateway speaks, and its key (when it
  names one) is set in this process. A row may enter a ranking when its provider is configured and it is
  enabled or its provider still lists it; an enabled row on an enabled provider keeps a place it has.
- A model a configured provider lists without a row may enter too: it is added as a disabled row.
- Catalogue guard: a listed price or context window within ×10 of the row's is applied; beyond, it is
  held as a CatalogueChange for review. Rows are never deleted or disabled here.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from providers import PROVIDER_CLASSES
from providers.catalogue import DiscoveryError, FoundModel, fetch_catalogue
from research.evaluation import GatewayModel, RowFacts, guard_catalogue_changes
from research.models import CatalogueChange, ResearchRun
from routing.models import Model, Provider
from routing.selectors import provider_spec
from routing.services import model_fields_update


def provider_configured(provider: Provider) -> bool:
    """The gateway can call it from here: enabled, a kind it speaks, and its key (when it names one) set."""
    if not provider.enabled or provider.kind not in PROVIDER_CLASSES:
        return False
    spec = provider_spec(provider)
    return bool(spec.api_key) or not spec.key_env


def provider_catalogues(run: ResearchRun) -> dict[str, list[FoundModel]]:
    """Each configured provider's own model list; a provider whose list cannot be read is noted and skipped."""
    found: dict[str, list[FoundModel]] = {}
    outcomes: list[dict[str, Any]] = []
    for provider in Provider.objects.order_by("name"):
        if not provider_configured(provider):
            continue
        spec = provider_spec(provider)
        outcome = {"name": f"provider:{provider.name}", "kind": "provider /models", "url": f"{spec.base_url}/models",
                   "status": "ok", "records": 0, "error": ""}
        started = time.monotonic()
        try:
            found[provider.name] = fetch_catalogue(spec)
            outcome["records"] = len(found[provider.name])
        except DiscoveryError as exc:
            outcome |= {"status": "failed", "error": str(exc)}
        outcome["elapsed_ms"] = int((time.monotonic() - started) * 1000)
        outcomes.append(outcome)
    if outcomes:
        run.sources = [*run.sources, *outcomes]
        ResearchRun.objects.filter(pk=run.pk).update(sources=run.sources)
    return found


def gateway_models(listed: dict[str, list[FoundModel]]) -> dict[str, GatewayModel]:
    """Every model row, plus every model a configured provider lists without a row (could be added disabled)."""
    providers = {p.pk: p for p in Provider.objects.all()}
    configured = {pk for pk, p in providers.items() if provider_configured(p)}
    listed_names = {name: {m.upstream_name for m in found} for name, found in listed.items()}
    models: dict[str, GatewayModel] = {}
    known: set[tuple[str, str]] = set()
    for row in Model.objects.order_by("public_id"):
        provider = providers[row.provider_id]
        # Callable: enabled on a configured provider, or a disabled row its provider still lists (added by
        # discovery or an earlier run, waiting for the operator): such a row may enter and may stay.
        callable_row = row.provider_id in configured and (
            row.enabled or row.upstream_name in listed_names.get(provider.name, ())
        )
        # An enabled row on an enabled provider keeps its place even where this process lacks the key (a
        # worker's environment may differ from the gateway's): research must not empty rankings for that.
        models[row.public_id] = GatewayModel(
            public_id=row.public_id, provider=provider.name, upstream_name=row.upstream_name, exists=True,
            enabled=row.enabled, can_enter=callable_row,
            can_stay=callable_row or (row.enabled and provider.enabled),
            free=provider.tier == Provider.Tier.FREE,
        )
        known.add((provider.name, row.upstream_name))
    tiers = {p.name: p.tier for p in providers.values()}
    for name, found in listed.items():
        for model in found:
            public_id = f"{name}/{model.upstream_name}"
            if (name, model.upstream_name) in known or public_id in models or len(public_id) > 200:
                continue
            models[public_id] = GatewayModel(
                public_id=public_id, provider=name, upstream_name=model.upstream_name, exists=False,
                enabled=False, can_enter=True, can_stay=False, free=tiers.get(name) == Provider.Tier.FREE,
            )
    return models


def apply_catalogue_guard(run: ResearchRun, listed: dict[str, list[FoundModel]]) -> dict[str, Any]:
    """Apply providers' price/context changes within ×10 of a row's values; hold the rest for review.
    Never deletes or disables a row; an identical change already held is not held twice."""
    rows = [
        RowFacts(m.public_id, m.provider.name, m.upstream_name, m.context_window,
                 Decimal(m.input_price_per_mtok), Decimal(m.output_price_per_mtok))
        for m in Model.objects.select_related("provider").filter(provider__name__in=list(listed))
    ]
    by_provider = {name: {m.upstream_name: m for m in found} for name, found in listed.items()}
    apply, hold = guard_catalogue_changes(rows, by_provider)
    changed = model_fields_update(updates=[(c.public_id, c.field, c.proposed) for c in apply]) if apply else []
    held: list[dict[str, str]] = []
    models = {m.public_id: m for m in Model.objects.filter(public_id__in=[c.public_id for c in hold])}
    for change in hold:
        values = {"model": models[change.public_id], "field": change.field, "current_value": str(change.current),
                  "proposed_value": str(change.proposed), "status": CatalogueChange.Status.HELD}
        if not CatalogueChange.objects.filter(**values).exists():
            CatalogueChange.objects.create(**values, source=change.source, run=run)
        held.append({"model": change.public_id, "field": change.field, "current": str(change.current),
                     "proposed": str(change.proposed), "source": change.source})
    return {
        "applied": [{"model": c.public_id, "field": c.field, "from": str(c.current), "to": str(c.proposed)}
                    for c in apply if c.public_id in changed],
        "held": held,
    }
