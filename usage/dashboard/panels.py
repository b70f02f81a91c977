"""Dashboard panels read from the roll-ups: totals, time series, breakdowns, rates, quota.

Every function takes the parsed filters and returns plain data: `columns` and `rows` (what the CSV
export writes) plus whatever the chart needs. All sums happen in the database, GROUP BY over the
daily roll-up's day index (ranges are whole UTC days), or the hourly one for a series by the hour.
"""

from __future__ import annotations

from calendar import monthrange
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db.models import F, Sum
from django.utils import timezone

from usage.dashboard.filters import DashboardFilters
from usage.models import UsageDailyRollup, UsageRollup

BREAKDOWNS = {  # name -> roll-up column
    "model": "model",
    "provider": "provider",
    "role": "role",
    "key": "api_key_prefix",
    "profile": "profile",
    "role_source": "role_source",
    "status_class": "status_class",
}
ROLE_SOURCES = ("explicit", "alias", "agent_mode", "fast_path", "classifier", "default")  # prompts.steps tiers
QUOTA_ALERTS = (50, 75, 90, 100)
MEASURES = dict(
    requests=Sum("requests"), errors=Sum("errors"), fallbacks=Sum("fallbacks"), prompt_tokens=Sum("prompt_tokens"),
    completion_tokens=Sum("completion_tokens"), total_tokens=Sum("total_tokens"), cost=Sum("cost"),
    latency_ms_sum=Sum("latency_ms_sum"), ttft_ms_sum=Sum("ttft_ms_sum"), ttft_count=Sum("ttft_count"),
)


def _now() -> datetime:
    return timezone.now().astimezone(UTC)


def _money(value) -> float:
    return round(float(value or 0), 8)


def _finish(sums: dict) -> dict:
    """Sums to the numbers a person reads: counts, cost in dollars, rates and averages."""
    requests = int(sums.get("requests") or 0)
    ttft_count = int(sums.get("ttft_count") or 0)
    return {
        "requests": requests,
        "errors": int(sums.get("errors") or 0),
        "fallbacks": int(sums.get("fallbacks") or 0),
        "prompt_tokens": int(sums.get("prompt_tokens") or 0),
        "completion_tokens": int(sums.get("completion_tokens") or 0),
        "total_tokens": int(sums.get("total_tokens") or 0),
        "cost": _money(sums.get("cost")),
        "error_rate": round((sums.get("errors") or 0) / requests, 4) if requests else 0.0,
        "fallback_rate": round((sums.get("fallbacks") or 0) / requests, 4) if requests else 0.0,
        "avg_latency_ms": round((sums.get("latency_ms_sum") or 0) / requests, 1) if requests else None,
        "avg_ttft_ms": round((sums.get("ttft_ms_sum") or 0) / ttft_count, 1) if ttft_count else None,
    }


def overview(filters: DashboardFilters) -> dict:
    """Totals for today and this month (UTC, with the dimension filters) and for the selected range,
    and the range's time series: per hour for a range of two days or less, per day otherwise.

    One GROUP BY day over the span covering all three (each total is a sum of days), plus the hourly
    roll-up for a short range's series."""
    today = _now().date()
    month = today.replace(day=1)
    first, last = min(filters.since, month), max(filters.until, today)
    per_day = {row.pop("day"): row for row in (
        UsageDailyRollup.objects.filter(day__gte=first, day__lte=last, **filters.dimensions)
        .values("day").order_by("day").annotate(**MEASURES))}

    def total(start, end) -> dict:
        sums: dict = {}
        for day, row in per_day.items():
            if start <= day <= end:
                for name, value in row.items():
                    sums[name] = sums.get(name, 0) + (value or 0)
        return _finish(sums)

    if filters.days <= 2:
        series = time_series(filters)
    else:
        series = _series(filters, "day", {day.isoformat(): row for day, row in per_day.items()})
    return {
        "filters": filters.as_dict(),
        "today": total(today, today),
        "month": total(month, today),
        "range": total(filters.since, filters.until),
        **series,
    }


def time_series(filters: DashboardFilters) -> dict:
    if filters.days <= 2:
        grouped = UsageRollup.objects.filter(filters.rollup_q()).values(bucket=F("hour"))
        bucket = "hour"
    else:
        grouped = UsageDailyRollup.objects.filter(filters.daily_q()).values(bucket=F("day"))
        bucket = "day"
    found = {_bucket_key(row["bucket"]): row for row in grouped.order_by("bucket").annotate(**MEASURES)}
    return _series(filters, bucket, found)


def _series(filters: DashboardFilters, bucket: str, found: dict[str, dict]) -> dict:
    columns = ["time", "requests", "errors", "fallbacks", "prompt_tokens", "completion_tokens", "total_tokens",
               "cost"]
    out = []
    step = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)
    moment = filters.start if bucket == "hour" else filters.since
    end = filters.end if bucket == "hour" else filters.until + timedelta(days=1)
    while moment < end:  # every bucket, empty ones as zeros, so charts keep a true time axis
        sums = found.get(_bucket_key(moment), {})
        label = moment.strftime("%Y-%m-%dT%H:00Z") if bucket == "hour" else moment.isoformat()
        out.append([label, int(sums.get("requests") or 0), int(sums.get("errors") or 0),
                    int(sums.get("fallbacks") or 0), int(sums.get("prompt_tokens") or 0),
                    int(sums.get("completion_tokens") or 0), int(sums.get("total_tokens") or 0),
                    _money(sums.get("cost"))])
        moment += step
    return {"bucket": bucket, "columns": columns, "rows": out}


def _bucket_key(value) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H")
    return value.isoformat()


def breakdown(filters: DashboardFilters, by: str, *, order: str = "cost", limit: int = 100) -> dict:
    """Requests, tokens, cost, error/fallback rates and average latency per value of one dimension."""
    column = BREAKDOWNS[by]
    grouped = (UsageDailyRollup.objects.filter(filters.daily_q()).values(column).order_by()
               .annotate(**MEASURES).order_by(f"-{order}", column)[:limit])
    columns = ["value", "requests", "errors", "fallbacks", "error_rate", "fallback_rate", "prompt_tokens",
               "completion_tokens", "total_tokens", "cost", "avg_latency_ms", "avg_ttft_ms"]
    rows = []
    for group in grouped:
        numbers = _finish(group)
        rows.append([group[column], *(numbers[name] for name in columns[1:])])
    result = {"by": by, "filters": filters.as_dict(), "columns": columns, "rows": rows}
    if by == "role_source":
        result["known_sources"] = list(ROLE_SOURCES)
        result["recorded"] = _rows_record_role_source()
    return result


def _rows_record_role_source() -> bool:
    from usage.models import UsageRecord

    return any(field.name == "role_source" for field in UsageRecord._meta.get_fields())


def filter_options(filters: DashboardFilters) -> dict:
    """The values each dimension takes in the range (for the filter menus), most requests first: one
    GROUP BY over every dimension, then counted per dimension here (a few thousand combinations at most)."""
    columns = list(BREAKDOWNS.values())
    counts: dict[str, dict[str, int]] = {name: {} for name in BREAKDOWNS}
    combos = (UsageDailyRollup.objects.filter(day__gte=filters.since, day__lte=filters.until)
              .values_list(*columns).order_by().annotate(n=Sum("requests")))
    for *values, requests in combos:
        for name, value in zip(BREAKDOWNS, values, strict=True):
            counts[name][value] = counts[name].get(value, 0) + requests
    return {"options": {name: [value for value, _ in sorted(found.items(), key=lambda item: -item[1])][:200]
                        for name, found in counts.items()}}


# -- quota ----------------------------------------------------------------------------------------

def quota_limits() -> dict[str, int]:
    """Monthly token quotas by provider, from whatever the installation has: NanoGPT's setting, and a
    quota field on routing's providers when that exists. Read by name, not imported: usage sits below
    routing in the layers, and the dashboard must work before (and without) a quota feature."""
    limits: dict[str, int] = {}
    quota = getattr(settings, "NANOGPT_MONTHLY_QUOTA", 0)
    if quota:
        limits["nanogpt"] = int(quota)
    try:
        from django.apps import apps

        provider_model = apps.get_model("routing", "Provider")
    except LookupError:
        return limits
    names = {f.name for f in provider_model._meta.get_fields()}
    field = next((name for name in ("monthly_token_quota", "monthly_quota", "quota_tokens") if name in names), None)
    if field is not None:
        for name, value in provider_model.objects.exclude(**{f"{field}__isnull": True}).values_list("name", field):
            if value:
                limits[name] = int(value)
    return limits


def quota(filters: DashboardFilters | None = None) -> dict:
    """This month's burn-down per quota'd provider: tokens used each day, cumulative, the remaining
    quota, the alert levels crossed, and the day it runs out at this month's pace so far."""
    now = _now()
    month = datetime.combine(now.date().replace(day=1), time(), tzinfo=UTC)
    days_in_month = monthrange(now.year, now.month)[1]
    providers = []
    rows = []
    for provider, limit in sorted(quota_limits().items()):
        per_day = dict(
            UsageDailyRollup.objects.filter(provider=provider, day__gte=month.date())
            .values_list("day").order_by("day").annotate(tokens=Sum("total_tokens"))
        )
        used, burn = 0, []
        for offset in range(now.day):
            day = month.date() + timedelta(days=offset)
            used += int(per_day.get(day) or 0)
            burn.append([day.isoformat(), used, max(limit - used, 0)])
            rows.append([provider, day.isoformat(), used, max(limit - used, 0), limit])
        elapsed_days = (now - month).total_seconds() / 86400
        pace = used / elapsed_days if elapsed_days > 0 else 0.0
        runs_out: date | None = None
        if used >= limit:
            runs_out = now.date()
        elif pace > 0:
            runs_out = (month + timedelta(days=limit / pace)).date()
        percent = round(100 * used / limit, 1) if limit else 0.0
        providers.append({
            "provider": provider,
            "monthly_tokens": limit,
            "used": used,
            "remaining": max(limit - used, 0),
            "percent": percent,
            "alerts": [level for level in QUOTA_ALERTS if percent >= level],
            "tokens_per_day": round(pace, 1),
            "runs_out_on": runs_out.isoformat() if runs_out else None,
            "runs_out_this_month": bool(runs_out and runs_out.month == now.month and runs_out.year == now.year),
            "month_days": days_in_month,
            "burn_down": burn,
        })
    return {"providers": providers, "columns": ["provider", "day", "used", "remaining", "monthly_tokens"],
            "rows": rows, "configured": bool(providers)}


