"""Reads of usage rows."""

from __future__ import annotations

from datetime import datetime

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
