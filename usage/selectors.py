"""Reads of usage rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from django.db.models import Sum
from django.utils import timezone

from usage.models import UsageRecord


def month_start(now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def tokens_used_this_month(provider: str) -> int:
    total = UsageRecord.objects.filter(provider=provider, created_at__gte=month_start()).aggregate(
        total=Sum("total_tokens")
    )["total"]
    return int(total or 0)


def tokens_by_provider_since(start: datetime) -> dict[str, int]:
    """Tokens each provider served since `start` (rows of every status: a failed stream may have used some)."""
    rows = (UsageRecord.objects.filter(created_at__gte=start).exclude(provider="")
            .values("provider").annotate(total=Sum("total_tokens")))
    return {row["provider"]: int(row["total"] or 0) for row in rows}


REPORT_GROUPS = {  # --group-by name -> roll-up column (day/hour are computed)
    "model": "model", "provider": "provider", "role": "role", "key": "api_key_prefix", "profile": "profile",
    "role_source": "role_source", "status": "status_class", "day": "day", "hour": "hour",
}
REPORT_MEASURES = ("requests", "errors", "fallbacks", "prompt_tokens", "completion_tokens", "total_tokens", "cost",
                   "avg_latency_ms")


def usage_report(*, start: datetime, end: datetime, group_by: Sequence[str]) -> list[dict]:
    """Usage from the roll-ups over [start, end) (whole UTC hours), one dict per group, costliest first:
    the daily roll-up when both ends are midnights and nothing is grouped by hour, else the hourly one.

    Raises KeyError for an unknown group name (the command checks them first).
    """
    from django.db import connection
    from django.db.models import DateField, F, Sum
    from django.db.models.functions import Substr, TruncDate

    from usage.models import UsageDailyRollup, UsageRollup

    names = {name: REPORT_GROUPS[name] for name in group_by}
    first, last = start.astimezone(UTC), end.astimezone(UTC)
    whole_days = all(moment.time() == datetime.min.time() for moment in (first, last))
    if whole_days and "hour" not in names:
        rows = UsageDailyRollup.objects.filter(day__gte=first.date(), day__lt=last.date())
    else:
        rows = UsageRollup.objects.filter(hour__gte=start, hour__lt=end)
        if "day" in names:  # the database's own function: no per-row Python function on SQLite
            rows = rows.annotate(day=Substr("hour", 1, 10, output_field=DateField()) if connection.vendor == "sqlite"
                                 else TruncDate("hour", tzinfo=UTC))
    renamed = {name: F(column) for name, column in names.items() if name != column}
    grouped = rows.values(*[name for name, column in names.items() if name == column], **renamed).order_by().annotate(
        requests=Sum("requests"), errors=Sum("errors"), fallbacks=Sum("fallbacks"),
        prompt_tokens=Sum("prompt_tokens"), completion_tokens=Sum("completion_tokens"),
        total_tokens=Sum("total_tokens"), cost=Sum("cost"), latency_ms_sum=Sum("latency_ms_sum"),
    )
    report = []
    for group in grouped:
        requests = int(group["requests"] or 0)
        entry = {name: _report_value(group[name]) for name in names}
        entry.update(
            requests=requests, errors=int(group["errors"] or 0), fallbacks=int(group["fallbacks"] or 0),
            prompt_tokens=int(group["prompt_tokens"] or 0), completion_tokens=int(group["completion_tokens"] or 0),
            total_tokens=int(group["total_tokens"] or 0), cost=round(float(group["cost"] or 0), 8),
            avg_latency_ms=round(group["latency_ms_sum"] / requests, 1) if requests else None,
        )
        report.append(entry)
    time_keys = [name for name in ("day", "hour") if name in names]
    report.sort(key=lambda entry: (*(entry[name] for name in time_keys), -entry["cost"], -entry["requests"]))
    return report


def _report_value(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:00Z")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
