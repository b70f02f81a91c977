"""Writes of usage rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache

from django.db import close_old_connections, connection, transaction
from django.db.models import CharField, Count, DateField, DateTimeField, F, Q, Sum, Value
from django.db.models.functions import Cast, Coalesce, Concat, Substr, TruncDate, TruncHour

from usage.events import UsageEvent
from usage.models import DIMENSION_FIELDS, SUM_FIELDS, UsageDailyRollup, UsageRecord, UsageRollup
from usage.rollup import day_of, rollups_add

# Adapted per row (everything else goes to the driver as is).
DATETIME_FIELDS = ("created_at",)
DECIMAL_FIELDS = ("cost",)
JSON_FIELDS = ("attempt_log",)


INSERT_CHUNK = 250  # rows per INSERT statement: well inside SQLite's 32,766 and PostgreSQL's 65,535 parameters


def _event_fields() -> tuple[str, ...]:
    return tuple(field.name for field in fields(UsageEvent))


@cache
def _insert_sql(rows: int) -> str:
    """A multi-row INSERT that skips known request ids and returns the ids it did insert (SQLite >= 3.35)."""
    quote = connection.ops.quote_name
    names = _event_fields()
    table = quote(UsageRecord._meta.db_table)
    columns = ", ".join(quote(UsageRecord._meta.get_field(name).column) for name in names)
    values = ", ".join(["(" + ", ".join(["%s"] * len(names)) + ")"] * rows)
    request_id = quote(UsageRecord._meta.get_field("request_id").column)
    return (f"INSERT INTO {table} ({columns}) VALUES {values} "
            f"ON CONFLICT ({request_id}) DO NOTHING RETURNING {request_id}")


def usage_records_write(events: Sequence[UsageEvent]) -> int:
    """Write a batch atomically, rows and their hourly roll-up together: all or nothing.

    Rows already written (same request id) are skipped, which makes a retry after an ambiguous
    failure (the commit landed but the connection dropped), or a journal replay, safe: the INSERT
    returns the ids it really inserted and only those rows are added to the roll-up. Plain multi-row
    INSERTs of tuples: the ORM's bulk_create spent ~120 µs of CPU per row, holding the GIL against
    the event loop.
    """
    close_old_connections()
    names = _event_fields()
    ops = connection.ops
    cost_field = UsageRecord._meta.get_field("cost")
    index = {name: position for position, name in enumerate(names)}
    rows = []
    for event in events:
        row = [getattr(event, name) for name in names]
        for name in DATETIME_FIELDS:
            row[index[name]] = ops.adapt_datetimefield_value(row[index[name]])
        for name in DECIMAL_FIELDS:
            row[index[name]] = ops.adapt_decimalfield_value(
                Decimal(f"{row[index[name]]:.8f}"), cost_field.max_digits, cost_field.decimal_places
            )
        for name in JSON_FIELDS:
            row[index[name]] = ops.adapt_json_value(row[index[name]], None)
        rows.append(row)
    inserted: set[str] = set()
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start:start + INSERT_CHUNK]
            cursor.execute(_insert_sql(len(chunk)), [value for row in chunk for value in row])
            inserted.update(request_id for (request_id,) in cursor.fetchall())
        rollups_add(cursor, _first_of_each(events, inserted))
    return len(rows)


def _first_of_each(events: Sequence[UsageEvent], inserted: set[str]) -> list[UsageEvent]:
    """The events whose rows this write inserted (of a request id given twice, the first is the row)."""
    fresh = []
    for event in events:
        if event.request_id in inserted:
            inserted.discard(event.request_id)
            fresh.append(event)
    return fresh


def usage_rollup_rebuild(*, since: datetime | None = None) -> int:
    """Recompute both roll-ups from the raw rows (all of them, or from the UTC day `since` falls on).

    For rows written before the roll-ups existed, and to repair them. The hourly one is summed from the
    rows, the daily one from the hourly one, in one transaction that first takes a lock the usage writer
    must wait for (PostgreSQL: SHARE ROW EXCLUSIVE on the usage table; SQLite: the write lock), so no
    batch lands between the delete and the sums. Bucketing uses the database's own functions (no
    per-row Python function on SQLite). Returns the hourly roll-up rows written.
    """
    start = datetime.combine(day_of(since), datetime.min.time(), tzinfo=UTC) if since is not None else None
    rows = UsageRecord.objects.all()
    hourly, daily = UsageRollup.objects.all(), UsageDailyRollup.objects.all()
    if start is not None:
        rows = rows.filter(created_at__gte=start)
        hourly, daily = hourly.filter(hour__gte=start), daily.filter(day__gte=start.date())
    has_role_source = any(field.name == "role_source" for field in UsageRecord._meta.get_fields())
    sqlite = connection.vendor == "sqlite"
    hour = (Concat(Substr("created_at", 1, 13), Value(":00:00"), output_field=DateTimeField()) if sqlite
            else TruncHour("created_at", tzinfo=UTC))
    grouped_rows = (
        rows.annotate(
            bucket=hour,
            rollup_role_source=F("role_source") if has_role_source else Value(""),
            status_class=Concat(Cast(F("status_code") / 100, CharField()), Value("xx")),
        )
        .values("bucket", "model", "provider", "role", "api_key_prefix", "profile", "rollup_role_source",
                "status_class")
        .order_by()
        .annotate(
            requests_sum=Count("id"),
            errors_sum=Count("id", filter=Q(status=UsageRecord.Status.ERROR)),
            fallbacks_sum=Count("id", filter=Q(attempts__gt=1)),
            prompt_tokens_sum=Sum("prompt_tokens"),
            completion_tokens_sum=Sum("completion_tokens"),
            total_tokens_sum=Sum("total_tokens"),
            cost_sum=Sum("cost"),
            latency_ms_sum_sum=Sum("latency_ms"),
            ttft_ms_sum_sum=Coalesce(Sum("ttft_ms"), 0.0),
            ttft_count_sum=Count("ttft_ms"),
            overhead_ms_sum_sum=Sum("overhead_ms"),
        )
    )
    day = (Substr("hour", 1, 10, output_field=DateField()) if sqlite else TruncDate("hour", tzinfo=UTC))
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                table = connection.ops.quote_name(UsageRecord._meta.db_table)
                cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
        hourly.delete()
        daily.delete()
        written = _insert_grouped(UsageRollup, grouped_rows, role_source="rollup_role_source")
        grouped_hours = (
            hourly.annotate(bucket=day).values("bucket", *DIMENSION_FIELDS).order_by()
            .annotate(**{f"{name}_sum": Sum(name) for name in SUM_FIELDS})
        )
        _insert_grouped(UsageDailyRollup, grouped_hours, role_source="role_source")
    return written


def _insert_grouped(rollup, groups, *, role_source: str) -> int:
    """INSERT … SELECT of a grouped queryset into a roll-up: the sums never leave the database."""
    quote = connection.ops.quote_name
    sql, params = groups.query.sql_with_params()
    aliases = ["bucket", *(role_source if name == "role_source" else name for name in DIMENSION_FIELDS),
               *(f"{name}_sum" for name in SUM_FIELDS)]
    columns = [rollup.BUCKET, *DIMENSION_FIELDS, *SUM_FIELDS]
    statement = (f"INSERT INTO {quote(rollup._meta.db_table)} "
                 f"({', '.join(quote(rollup._meta.get_field(name).column) for name in columns)}) "
                 f"SELECT {', '.join(quote(alias) for alias in aliases)} FROM ({sql}) AS grouped")
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount


RETENTION_BATCH = 2000


def usage_records_delete_batch(*, before: datetime, batch_size: int = RETENTION_BATCH) -> int:
    """Delete up to `batch_size` of the oldest raw rows created before `before`; the roll-up keeps their sums.

    One short transaction per batch, oldest ids first, so the usage writer waits at most one batch.
    Returns the number deleted (0: nothing older is left).
    """
    close_old_connections()
    ids = list(UsageRecord.objects.filter(created_at__lt=before).order_by("created_at").values_list("id", flat=True)
               [:batch_size])
    if not ids:
        return 0
    with transaction.atomic():
        deleted, _ = UsageRecord.objects.filter(id__in=ids).delete()
    return deleted


def usage_records_delete_expired(*, days: int, now: datetime | None = None, pause_seconds: float = 0.05) -> int:
    """Delete raw rows older than `days` days, batch by batch with a pause between (sync: Celery, commands)."""
    import time

    from django.utils import timezone

    before = (now or timezone.now()) - timedelta(days=days)
    total = 0
    while deleted := usage_records_delete_batch(before=before):
        total += deleted
        time.sleep(pause_seconds)
    return total
