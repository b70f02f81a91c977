"""Panels that need the raw rows: latency and TTFT percentiles, and the top conversations.

They read an indexed, bounded range: the selected range, but at most its last RAW_MAX_DAYS days and
its newest RAW_MAX_ROWS rows (found by walking the created_at index); the answer says which `window`
it covers. Percentiles are exact and equal PostgreSQL's
`percentile_cont` (linear interpolation between the two nearest ranks): on PostgreSQL computed by it;
on SQLite, which has no percentile function, the window's values (at most RAW_MAX_ROWS, fetched in one
index-range scan for latency and TTFT together) are sorted here and interpolated the same way: measured
faster than ranking them in SQL with ROW_NUMBER() (one sort per measure there, plus the window).
"""

from __future__ import annotations

import math
from datetime import timedelta

from django.db import connection
from django.db.models import Count, Max, Min, Sum

from usage.dashboard.filters import DashboardFilters
from usage.models import UsageRecord

RAW_MAX_DAYS = 7
RAW_MAX_ROWS = 50_000
PERCENTILES = (0.5, 0.95, 0.99)
LATENCY_GROUPS = {"model": "model", "provider": "provider", "role": "role", "key": "api_key_prefix",
                  "profile": "profile"}


def window(filters: DashboardFilters) -> dict:
    start = max(filters.start, filters.end - timedelta(days=RAW_MAX_DAYS))
    oldest_kept = (UsageRecord.objects.filter(filters.raw_q(start)).order_by("-created_at")
                   .values_list("created_at", flat=True)[RAW_MAX_ROWS - 1:RAW_MAX_ROWS].first())
    rows_capped = False
    if oldest_kept is not None and oldest_kept > start:
        newer = UsageRecord.objects.filter(filters.raw_q(start)).filter(created_at__lt=oldest_kept)
        rows_capped = newer.exists()
        start = oldest_kept
    return {"start": start, "end": filters.end, "truncated": start > filters.start, "rows_capped": rows_capped}


def _window_json(bounds: dict) -> dict:
    return {"since": bounds["start"].isoformat(), "until": bounds["end"].isoformat(),
            "truncated": bounds["truncated"], "rows_capped": bounds["rows_capped"], "max_days": RAW_MAX_DAYS,
            "max_rows": RAW_MAX_ROWS}


def _where(filters: DashboardFilters, start) -> tuple[str, list]:
    """The filtered range as SQL (compiled by the ORM, so SQLite and PostgreSQL each get their own)."""
    query = UsageRecord.objects.filter(filters.raw_q(start)).values("id").query
    sql, params = query.get_compiler(connection=connection).compile(query.where)
    return sql, list(params)


def latency(filters: DashboardFilters, by: str | None = None) -> dict:
    """p50/p95/p99 of latency and TTFT (ms), overall or per value of `by`, with the row counts."""
    bounds = window(filters)
    group = LATENCY_GROUPS[by] if by else None
    compute = _percentiles_postgres if connection.vendor == "postgresql" else _percentiles_sqlite
    result: dict[str, dict] = {}
    for name, per_key in compute(filters, bounds["start"], group).items():
        for key, (count, values) in per_key.items():
            entry = result.setdefault(key, {"value": key})
            entry[f"{name}_count"] = count
            for p, value in zip(PERCENTILES, values, strict=True):
                entry[f"{name}_p{round(p * 100)}"] = None if value is None else round(value, 2)
    columns = ["value", "latency_ms_count", "latency_ms_p50", "latency_ms_p95", "latency_ms_p99",
               "ttft_ms_count", "ttft_ms_p50", "ttft_ms_p95", "ttft_ms_p99"]
    rows = sorted(([entry.get(column) for column in columns] for entry in result.values()),
                  key=lambda row: -(row[1] or 0))
    return {"by": by, "filters": filters.as_dict(), "window": _window_json(bounds), "columns": columns,
            "rows": rows}


def _percentiles_postgres(filters, start, group: str | None) -> dict[str, dict]:
    where, params = _where(filters, start)
    table = connection.ops.quote_name(UsageRecord._meta.db_table)
    key = connection.ops.quote_name(group) if group else "''"
    array = ", ".join(str(p) for p in PERCENTILES)
    sql = (f"SELECT {key}, COUNT(latency_ms), percentile_cont(ARRAY[{array}]) WITHIN GROUP (ORDER BY latency_ms), "
           f"COUNT(ttft_ms), percentile_cont(ARRAY[{array}]) WITHIN GROUP (ORDER BY ttft_ms) "
           f"FROM {table} WHERE {where} GROUP BY 1")
    out: dict[str, dict] = {"latency_ms": {}, "ttft_ms": {}}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for value, latency_n, latency, ttft_n, ttft in cursor.fetchall():
            key_value = value if group else "all"
            out["latency_ms"][key_value] = (latency_n, list(latency) if latency_n else [None] * len(PERCENTILES))
            out["ttft_ms"][key_value] = (ttft_n, list(ttft) if ttft_n else [None] * len(PERCENTILES))
    return out


def _percentiles_sqlite(filters, start, group: str | None) -> dict[str, dict]:
    where, params = _where(filters, start)
    table = connection.ops.quote_name(UsageRecord._meta.db_table)
    key = connection.ops.quote_name(group) if group else "''"
    values: dict[str, tuple[list[float], list[float]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {key}, latency_ms, ttft_ms FROM {table} WHERE {where}", params)
        for value, latency, ttft in cursor.fetchall():
            latencies, ttfts = values.setdefault(value if group else "all", ([], []))
            latencies.append(latency)
            if ttft is not None:
                ttfts.append(ttft)
    out: dict[str, dict] = {"latency_ms": {}, "ttft_ms": {}}
    for key_value, (latencies, ttfts) in values.items():
        for name, found in (("latency_ms", latencies), ("ttft_ms", ttfts)):
            found.sort()
            out[name][key_value] = (len(found), [percentile_cont(found, p) for p in PERCENTILES])
    return out


def percentile_cont(ordered: list[float], p: float) -> float | None:
    """PostgreSQL's percentile_cont over sorted values: linear interpolation at rank (n - 1) * p."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * p
    lower = math.floor(position)
    if lower + 1 >= len(ordered):
        return ordered[lower]
    return ordered[lower] + (ordered[lower + 1] - ordered[lower]) * (position - lower)


def conversations(filters: DashboardFilters, *, limit: int = 50) -> dict:
    """The conversations that cost most in the window, with their requests, tokens, models and span."""
    bounds = window(filters)
    grouped = (
        UsageRecord.objects.filter(filters.raw_q(bounds["start"])).exclude(conversation_id="")
        .values("conversation_id").order_by()
        .annotate(requests=Count("id"), total_tokens=Sum("total_tokens"), cost=Sum("cost"),
                  first=Min("created_at"), last=Max("created_at"), models=Count("model", distinct=True))
        .order_by("-cost", "-requests")[:limit]
    )
    columns = ["conversation_id", "requests", "total_tokens", "cost", "models", "first", "last"]
    rows = [[row["conversation_id"], row["requests"], int(row["total_tokens"] or 0),
             round(float(row["cost"] or 0), 8), row["models"], row["first"].isoformat(), row["last"].isoformat()]
            for row in grouped]
    return {"filters": filters.as_dict(), "window": _window_json(bounds), "columns": columns, "rows": rows}
