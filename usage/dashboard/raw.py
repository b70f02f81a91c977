"""Panels that need the raw rows: latency and TTFT percentiles, and the top conversations.

They read a bounded set of raw rows: the newest RAW_MAX_ROWS of the selected range's last RAW_MAX_DAYS
days (with the filters), taken in one walk down the created_at index (`ORDER BY created_at DESC LIMIT`);
the answer says which `window` that covers. Percentiles are exact and equal PostgreSQL's
`percentile_cont` (linear interpolation between the two nearest ranks): on PostgreSQL computed by it;
on SQLite, which has no percentile function, the window's latency and TTFT values are fetched together
and sorted here, then interpolated the same way (measured faster than ranking them in SQL with
ROW_NUMBER(): one sort per measure there, plus the window functions).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from django.db import connection

from usage.dashboard.filters import DashboardFilters
from usage.models import UsageRecord

RAW_MAX_DAYS = 7
RAW_MAX_ROWS = 50_000
PERCENTILES = (0.5, 0.95, 0.99)
LATENCY_GROUPS = {"model": "model", "provider": "provider", "role": "role", "key": "api_key_prefix",
                  "profile": "profile"}


def _newest(filters: DashboardFilters, columns: tuple[str, ...]) -> tuple[str, list, datetime]:
    """SQL selecting `columns` and created_at of the window's rows (newest first, at most RAW_MAX_ROWS)."""
    start = max(filters.start, filters.end - timedelta(days=RAW_MAX_DAYS))
    query = (UsageRecord.objects.filter(filters.raw_q(start)).order_by("-created_at")
             .values(*columns, "created_at")[:RAW_MAX_ROWS]).query
    sql, params = query.sql_with_params()
    return sql, list(params), start


def _moment(value) -> datetime:
    if isinstance(value, str):  # SQLite through a plain cursor: UTC text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _window_json(filters: DashboardFilters, start: datetime, rows: int, oldest) -> dict:
    capped = rows >= RAW_MAX_ROWS
    since = _moment(oldest) if capped and oldest is not None else start
    return {"since": since.isoformat(), "until": filters.end.isoformat(), "rows": rows,
            "truncated": since > filters.start, "rows_capped": capped, "max_days": RAW_MAX_DAYS,
            "max_rows": RAW_MAX_ROWS}


def latency(filters: DashboardFilters, by: str | None = None) -> dict:
    """p50/p95/p99 of latency and TTFT (ms), overall or per value of `by`, with the row counts."""
    group = LATENCY_GROUPS[by] if by else None
    compute = _percentiles_postgres if connection.vendor == "postgresql" else _percentiles_sqlite
    per_measure, window = compute(filters, group)
    result: dict[str, dict] = {}
    for name, per_key in per_measure.items():
        for key, (count, values) in per_key.items():
            entry = result.setdefault(key, {"value": key})
            entry[f"{name}_count"] = count
            for p, value in zip(PERCENTILES, values, strict=True):
                entry[f"{name}_p{round(p * 100)}"] = None if value is None else round(value, 2)
    columns = ["value", "latency_ms_count", "latency_ms_p50", "latency_ms_p95", "latency_ms_p99",
               "ttft_ms_count", "ttft_ms_p50", "ttft_ms_p95", "ttft_ms_p99"]
    rows = sorted(([entry.get(column) for column in columns] for entry in result.values()),
                  key=lambda row: -(row[1] or 0))
    return {"by": by, "filters": filters.as_dict(), "window": window, "columns": columns, "rows": rows}


def _percentiles_postgres(filters, group: str | None) -> tuple[dict[str, dict], dict]:
    columns = ("latency_ms", "ttft_ms", *((group,) if group else ()))
    newest, params, start = _newest(filters, columns)
    key = connection.ops.quote_name(group) if group else "''"
    array = ", ".join(str(p) for p in PERCENTILES)
    sql = (f"SELECT {key}, COUNT(latency_ms), percentile_cont(ARRAY[{array}]) WITHIN GROUP (ORDER BY latency_ms), "
           f"COUNT(ttft_ms), percentile_cont(ARRAY[{array}]) WITHIN GROUP (ORDER BY ttft_ms), MIN(created_at) "
           f"FROM ({newest}) AS newest GROUP BY 1")
    out: dict[str, dict] = {"latency_ms": {}, "ttft_ms": {}}
    rows, oldest = 0, None
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for value, latency_n, latency, ttft_n, ttft, first in cursor.fetchall():
            key_value = value if group else "all"
            out["latency_ms"][key_value] = (latency_n, list(latency) if latency_n else [None] * len(PERCENTILES))
            out["ttft_ms"][key_value] = (ttft_n, list(ttft) if ttft_n else [None] * len(PERCENTILES))
            rows += latency_n
            oldest = first if oldest is None else min(oldest, first)
    return out, _window_json(filters, start, rows, oldest)


def _percentiles_sqlite(filters, group: str | None) -> tuple[dict[str, dict], dict]:
    columns = ("latency_ms", "ttft_ms", *((group,) if group else ()))
    newest, params, start = _newest(filters, columns)
    values: dict[str, tuple[list[float], list[float]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(newest, params)
        fetched = cursor.fetchall()
    for row in fetched:
        latencies, ttfts = values.setdefault(row[2] if group else "all", ([], []))
        latencies.append(row[0])
        if row[1] is not None:
            ttfts.append(row[1])
    out: dict[str, dict] = {"latency_ms": {}, "ttft_ms": {}}
    for key_value, (latencies, ttfts) in values.items():
        for name, found in (("latency_ms", latencies), ("ttft_ms", ttfts)):
            found.sort()
            out[name][key_value] = (len(found), [percentile_cont(found, p) for p in PERCENTILES])
    return out, _window_json(filters, start, len(fetched), fetched[-1][-1] if fetched else None)


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
    newest, params, start = _newest(filters, ("conversation_id", "total_tokens", "cost", "model"))
    sql = (f"SELECT conversation_id, COUNT(*), SUM(total_tokens), SUM(cost), MIN(created_at), MAX(created_at), "
           f"COUNT(DISTINCT model) FROM ({newest}) AS newest GROUP BY 1")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        groups = cursor.fetchall()
    rows_seen = sum(group[1] for group in groups)
    oldest = min((_moment(group[4]) for group in groups), default=None)
    ranked = sorted((group for group in groups if group[0]), key=lambda group: (-float(group[3] or 0), -group[1]))
    columns = ["conversation_id", "requests", "total_tokens", "cost", "models", "first", "last"]
    rows = [[conversation, requests, int(tokens or 0), round(float(cost or 0), 8), models,
             _moment(first).isoformat(), _moment(last).isoformat()]
            for conversation, requests, tokens, cost, first, last, models in ranked[:limit]]
    return {"filters": filters.as_dict(), "window": _window_json(filters, start, rows_seen, oldest),
            "columns": columns, "rows": rows}
