"""The admin's landing page: the gateway's health, the quota, today's traffic and the last research run.

Each piece is read on its own and a missing piece (an app not installed yet, a table not migrated) shows
as unavailable instead of breaking the page.
"""

from __future__ import annotations

import logging

from django.apps import apps
from django.db import DatabaseError, connection
from django.db.models import Avg, Count, Q, Sum
from django.http import HttpRequest
from django.utils import timezone

logger = logging.getLogger(__name__)


def landing_context(request: HttpRequest) -> dict:
    return {"landing": {
        "health": _safe(_health),
        "quota": _safe(_quota),
        "traffic": _safe(_traffic_today),
        "research": _safe(_last_research_run),
    }}


def _safe(read):
    try:
        return read()
    except (DatabaseError, LookupError, ImportError, AttributeError) as error:
        logger.warning("landing page: %s unavailable: %s", read.__name__, error)
        return None


def _health() -> dict:
    from console.live import live_state
    from routing.state import routing_snapshot

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    snapshot = routing_snapshot.get_sync()
    providers = sorted(snapshot.providers.values(), key=lambda p: p.name)
    circuits = live_state().circuits
    return {
        "database": "ok",
        "config_version": routing_snapshot.token,
        "active_profile": snapshot.default_profile,
        "providers": [{"name": p.name, "enabled": p.enabled, "key_set": p.has_key,
                       "circuit": circuits.get(p.name, {}).get("state", "closed")} for p in providers],
        "models": len(snapshot.models),
    }


def _quota() -> dict:
    from console.live import quota_state

    return quota_state()


def _traffic_today() -> dict:
    from usage.models import UsageRecord

    start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    totals = UsageRecord.objects.filter(created_at__gte=start).aggregate(
        requests=Count("id"), errors=Count("id", filter=~Q(status="ok")), tokens=Sum("total_tokens"),
        cost=Sum("cost"), latency=Avg("latency_ms"),
    )
    return {**totals, "tokens": totals["tokens"] or 0, "cost": totals["cost"] or 0}


def _last_research_run() -> dict | None:
    run_model = apps.get_model("research", "ResearchRun")  # LookupError until the research app has runs
    run = run_model.objects.order_by("-pk").first()
    if run is None:
        return {"none": True}
    fields = {f.name: getattr(run, f.name) for f in run_model._meta.concrete_fields if not f.is_relation}
    return {"run": run, "fields": fields}
