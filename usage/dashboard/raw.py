"""Panels that need the raw rows: latency and TTFT percentiles, and the top conversations.

They read an indexed, bounded range: the selected range, but at most its last RAW_MAX_DAYS days and
its newest RAW_MAX_ROWS rows (found by walking the created_at index); the answer says which `window`
it covers. Percentiles are exact and equal PostgreSQL's
`percentile_cont` (linear interpolation between the two nearest ranks): on PostgreSQL computed by it,
on SQLite from the two ranks around each percentile, picked in SQL with ROW_NUMBER() so one sort
serves every percentile and only a handful of values leave the database.
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
    measures = {"latency_ms": "latency_ms", "ttft_ms": "ttft_ms"}
    result: dict[str, dict] = {}
    for name, column in measures.items():
        compute = _percentiles_postgres if connection.vendor == "postgresql" else _percentiles_sqlite
        for key, (count, values) in compute(filters, bounds["start"], column, group).items():
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


def _percentiles_postgres(filters, start, column: str, group: str | None) -> dict:
    where, params = _where(filters, start)
    table = connection.ops.quote_name(UsageRecord._meta.db_table)
    quoted = connection.ops.quote_name(column)
    key = connection.ops.quote_name(group) if group else "''"
    array = ", ".join(str(p) for p in PERCENTILES)
    sql = (f"SELECT {key}, COUNT({quoted}), percentile_cont(ARRAY[{array}]) WITHIN GROUP (ORDER BY {quoted}) "
           f"FROM {table} WHERE {where} AND {quoted} IS NOT NULL GROUP BY 1")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] if group else "all": (row[1], list(row[2])) for row in cursor.fetchall()}


def _percentiles_sqlite(filters, start, column: str, group: str | None) -> dict:
    where, params = _where(filters, start)
    table = connection.ops.quote_name(UsageRecord._meta.db_table)
    quoted = connection.ops.quote_name(column)
    key = connection.ops.quote_name(group) if group else "''"
    partition = f"PARTITION BY {key} " if group else ""
    wanted = " OR ".join(
        f"rnk = CAST((n - 1) * {p} AS INTEGER) OR rnk = CAST((n - 1) * {p} AS INTEGER) + 1" for p in PERCENTILES
    )
    sql = (f"SELECT k, n, rnk, v FROM (SELECT {key} AS k, {quoted} AS v, "
           f"ROW_NUMBER() OVER ({partition}ORDER BY {quoted}) - 1 AS rnk, COUNT(*) OVER ({partition.strip()}) AS n "
           f"FROM {table} WHERE {where} AND {quoted} IS NOT NULL) WHERE {wanted}")
    ranks: dict[str, tuple[int, dict[int, float]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for k, n, rank, value in cursor.fetchall():
            ranks.setdefault(k if group else "all", (n, {}))[1][rank] = value
    return {key: (n, [interpolate(values, n, p) for p in PERCENTILES]) for key, (n, values) in ranks.items()}


def interpolate(values_at: dict[int, float], n: int, p: float) -> float | None:
    """percentile_cont over n sorted values, given the values at the ranks around (n - 1) * p."""
    if n == 0:
        return None
    position = (n - 1) * p
    lower = math.floor(position)
    low = values_at[lower]
    if lower + 1 >= n:
        return low
    return low + (values_at[lower + 1] - low) * (position - lower)


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
