"""Reads of the routing configuration (sync ORM; called off the event loop)."""

from __future__ import annotations

import os
import time

from django.conf import settings

from core.versions import version_token
from providers import supported_kinds
from providers.specs import ModelSpec, ProviderSpec
from routing.aliases import alias_spec, ordered
from routing.models import Model, ModelAlias, Profile, Provider, RankingEntry, Role
from routing.snapshot import ProfileSpec, RankedModel, RoutingSnapshot

CONFIG_VERSION_KEY = "routing"
NANOGPT = "nanogpt"  # the provider whose quota NANOGPT_MONTHLY_QUOTA sets


def provider_env_prefix(name: str) -> str:
    """`nanogpt` → `NANOGPT`, `open-router` → `OPEN_ROUTER`: the prefix of a provider's env overrides."""
    return name.upper().replace("-", "_")


def provider_spec(row: Provider) -> ProviderSpec:
    """The provider as the request path sees it, with `<NAME>_BASE_URL` / `<NAME>_API_KEY` applied."""
    prefix = provider_env_prefix(row.name)
    override_key_env = f"{prefix}_API_KEY"
    api_key = os.environ.get(override_key_env) or (os.environ.get(row.api_key_env) if row.api_key_env else None)
    key_env = row.api_key_env or (override_key_env if os.environ.get(override_key_env) else "")
    base_url = os.environ.get(f"{prefix}_BASE_URL") or row.base_url
    return ProviderSpec(
        name=row.name,
        kind=row.kind,
        base_url=base_url.rstrip("/"),
        tier=row.tier,
        timeout_seconds=row.timeout_seconds,
        enabled=row.enabled,
        key_env=key_env,
        api_key=api_key or None,
        monthly_token_quota=monthly_quota(row),
    )


def monthly_quota(row: Provider) -> int:
    """The provider's monthly token quota: its own field, else NANOGPT_MONTHLY_QUOTA for 'nanogpt'; 0: none."""
    if row.monthly_token_quota is not None:
        return row.monthly_token_quota
    return settings.NANOGPT_MONTHLY_QUOTA if row.name == NANOGPT else 0


def _per_token(price) -> float | None:
    return None if price is None else float(price) / 1_000_000


def model_spec(row: Model, fallbacks: tuple[str, ...]) -> ModelSpec:
    return ModelSpec(
        public_id=row.public_id,
        provider=row.provider.name,
        upstream_name=row.upstream_name,
        context_window=row.context_window,
        input_price_per_token=float(row.input_price_per_mtok) / 1_000_000,
        output_price_per_token=float(row.output_price_per_mtok) / 1_000_000,
        cached_input_price_per_token=_per_token(row.cached_input_price_per_mtok),
        cache_write_price_per_token=_per_token(row.cache_write_price_per_mtok),
        supports_tools=row.supports_tools,
        supports_vision=row.supports_vision,
        supports_json=row.supports_json,
        enabled=row.enabled,
        kind=row.kind,
        fallbacks=fallbacks,
        created=int(row.updated_at.timestamp()) if row.updated_at else 0,
    )


def build_routing_snapshot() -> RoutingSnapshot:
    providers = {row.name: provider_spec(row) for row in Provider.objects.all()}
    model_rows = list(Model.objects.select_related("provider").prefetch_related("fallback_links__fallback"))
    models = {
        row.public_id: model_spec(row, tuple(link.fallback.public_id for link in row.fallback_links.all()))
        for row in model_rows
    }
    rankings: dict[str, list[RankedModel]] = {}
    for entry in RankingEntry.objects.select_related("role", "model").order_by("role__name", "position", "id"):
        rankings.setdefault(entry.role.name, []).append(
            RankedModel(model=entry.model.public_id, kind=entry.kind, reason=entry.reason)
        )
    profiles = {
        row.name: ProfileSpec(
            name=row.name,
            tiers=tuple(row.tier_order),
            providers=frozenset(provider.name for provider in row.providers.all()),
        )
        for row in Profile.objects.prefetch_related("providers")
    }
    roles = frozenset(Role.objects.values_list("name", flat=True)) | frozenset(rankings)
    targets: dict[str, list[str]] = {}
    for pattern, target in ModelAlias.objects.order_by("pattern", "position", "id").values_list("pattern", "target"):
        targets.setdefault(pattern, []).append(target)
    return RoutingSnapshot(
        providers=providers,
        models=models,
        rankings={role: tuple(entries) for role, entries in rankings.items()},
        profiles=profiles,
        roles=roles,
        default_profile=settings.ACTIVE_PROFILE,
        supported_kinds=supported_kinds(),
        built_at=time.time(),
        aliases=ordered(alias_spec(pattern, found) for pattern, found in targets.items()),
    )


def read_config_token() -> str | None:
    return version_token(CONFIG_VERSION_KEY)
