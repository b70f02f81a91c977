"""What /health and /status report. Never a secret: only whether a key is set, and where."""

from __future__ import annotations

from django.conf import settings
from django.db import connection

from apikeys.state import key_snapshot
from context.state import recorder as context_recorder
from core.background import run_read
from core.version import VERSION
from mcp_bridge.state import status_report as mcp_status_report
from proxy.state import circuit_breaker
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


async def status_report(snapshot: RoutingSnapshot, config_version: str | None) -> dict:
    used = await run_read(tokens_used_this_month, QUOTA_PROVIDER)
    quota = settings.NANOGPT_MONTHLY_QUOTA
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
        "quota": {
            "provider": QUOTA_PROVIDER,
            "monthly_tokens": quota,
            "used_this_month": used,
            "remaining": max(quota - used, 0),
            "exhausted": used >= quota,
        },
        "circuits": circuit_breaker.report(),
        "usage_rows_pending": recorder.pending,
        "context_exchanges_pending": context_recorder.pending,  # conversation turns not yet saved
        "mcp": await mcp_status_report(),
    }
