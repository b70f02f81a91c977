"""Reads of gateway keys (sync ORM; called off the event loop, in the gateway's DB thread)."""

from __future__ import annotations

import time

from django.db.models import Sum

from apikeys.access import KeySnapshot, KeySpec
from apikeys.limits import current_month
from apikeys.models import GatewayKey
from core.versions import version_token
from usage.models import UsageRecord
from usage.selectors import month_start

KEYS_VERSION_KEY = "gateway_keys"


def split_list(text: str) -> list[str]:
    return [item.strip() for item in text.replace("\n", ",").split(",") if item.strip()]


def key_spec(row: GatewayKey) -> KeySpec:
    return KeySpec(
        prefix=row.prefix,
        name=row.name,
        digest=row.key_hash,
        profile=row.profile.name if row.profile_id else "",
        allowed_models=tuple(split_list(row.allowed_models)),
        allowed_roles=frozenset(split_list(row.allowed_roles)),
        rpm_limit=row.rpm_limit or None,
        tpm_limit=row.tpm_limit or None,
        monthly_budget=float(row.monthly_budget) if row.monthly_budget is not None else None,
        is_admin=row.is_admin,
        expires_at=row.expires_at.timestamp() if row.expires_at else None,
        revoked=row.revoked_at is not None,
    )


def spend_this_month(prefixes: list[str]) -> dict[str, float]:
    """Committed spend per key prefix since the start of this calendar month (UTC)."""
    if not prefixes:
        return {}
    rows = (
        UsageRecord.objects.filter(created_at__gte=month_start(), api_key_prefix__in=prefixes)
        .values("api_key_prefix")
        .annotate(total=Sum("cost"))
    )
    spend = dict.fromkeys(prefixes, 0.0)
    spend.update({row["api_key_prefix"]: float(row["total"] or 0) for row in rows})
    return spend


def build_key_snapshot() -> KeySnapshot:
    keys = {row.prefix: key_spec(row) for row in GatewayKey.objects.select_related("profile")}
    budgeted = [prefix for prefix, spec in keys.items() if spec.monthly_budget is not None and not spec.revoked]
    return KeySnapshot(keys=keys, spend_month=current_month(time.time()), spend=spend_this_month(budgeted))


def read_keys_token() -> str | None:
    return version_token(KEYS_VERSION_KEY)
