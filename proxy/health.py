"""What /health and /status report. Never a secret: only whether a key is set, and where."""

from __future__ import annotations

from django.conf import settings
from django.db import connection

from apikeys.state import key_snapshot
from context.state import recorder as context_recorder
from context.state import writer_process as context_writer
from core.background import run_read
from core.version import VERSION
from mcp_bridge.state import status_report as mcp_status_report
from proxy.quota import warning_level
from proxy.state import circuit_breaker, provider_quotas
from routing.snapshot import RoutingSnapshot
from usage.selectors import tokens_used_this_month
from usage.state import recorder

QUOTA_PROVIDER = "nanogpt"


def _database_ok() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone() == (1,)


async def health_report() -> dict:
    try:
        database = "ok" if await run_read(_database_ok) else "error"
    except Exception:
        database = "unreachable"
    return {"status": "ok" if database == "ok" else "degraded", "database": database}


async def quota_report(snapshot: RoutingSnapshot) -> list[dict]:
    """Every provider with a monthly token quota: used (reservations in flight included), remaining, and the
    highest warning level reached (50/75/90/100 % of the quota), with a sentence for the operator."""
    report = []
    for provider in sorted(snapshot.providers.values(), key=lambda p: p.name):
        quota = provider.monthly_token_quota
        if not quota:
            continue
        used = await provider_quotas.used(provider.name)
        if used is None:  # the shared counters are unreachable: the committed rows are the next best answer
            used = await run_read(tokens_used_this_month, provider.name)
        used = int(used)
        level = warning_level(used, quota)
        entry = {"provider": provider.name, "tier": provider.tier, "monthly_tokens": quota, "used_this_month": used,
                 "remaining": max(quota - used, 0), "percent_used": round(used * 100 / quota, 1),
                 "exhausted": used >= quota, "warning_level": level, "warning": None}
        if level is not None:
            entry["warning"] = (f"{provider.name} has used its monthly quota: requests go to the next tier until the "
                                "month ends." if level >= 100 else
                                f"{provider.name} has used over {level}% of its monthly token quota.")
        report.append(entry)
    return report


async def status_report(snapshot: RoutingSnapshot, config_version: str | None) -> dict:
    quotas = await quota_report(snapshot)
    nanogpt = next((entry for entry in quotas if entry["provider"] == QUOTA_PROVIDER), None)
    if nanogpt is None:  # no 'nanogpt' row (or its quota set to 0): the setting and the rows, as before
        quota = settings.NANOGPT_MONTHLY_QUOTA
        used = await run_read(tokens_used_this_month, QUOTA_PROVIDER)
        nanogpt = {"provider": QUOTA_PROVIDER, "monthly_tokens": quota, "used_this_month": used,
                   "remaining": max(quota - used, 0), "exhausted": used >= quota}
    return {
        "version": VERSION,
        "config_version": config_version,
        "keys_version": key_snapshot.token,
        "active_profile": snapshot.default_profile,
        "profiles": sorted(snapshot.profiles),
        "providers": [
            {
                "name": provider.name,
                "kind": provider.kind,
                "tier": provider.tier,
                "enabled": provider.enabled,
                "supported": provider.kind in snapshot.supported_kinds,
                "key_env": provider.key_env or None,
                "key_set": provider.has_key if provider.needs_key else None,
            }
            for provider in sorted(snapshot.providers.values(), key=lambda p: p.name)
        ],
        "models": len(snapshot.models),
        "quota": nanogpt,  # NanoGPT's, kept for existing readers; "quotas" has every quota'd provider
        "quotas": quotas,
        "quota_warnings": [entry["warning"] for entry in quotas if entry["warning"]],
        "circuits": circuit_breaker.report(),
        "usage_rows_pending": recorder.pending,
        "context_exchanges_pending": context_recorder.pending,  # conversation turns not yet saved
        "context_writer": context_writer.report() if settings.CONTEXT_WRITER_PROCESS else None,
        "mcp": await mcp_status_report(),
    }
