"""Writes of usage rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache

from django.db import close_old_connections, connection, transaction
from django.db.models import CharField, Count, F, Q, Sum, Value
from django.db.models.functions import Cast, Coalesce, Concat, TruncHour

from usage.events import UsageEvent
from usage.models import UsageRecord, UsageRollup
from usage.rollup import hour_of, rollup_add, rollup_deltas

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
        rollup_add(cursor, rollup_deltas(_first_of_each(events, inserted)))
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
    """Recompute the roll-up from the raw rows (all of it, or from the hour `since` falls in on).

    For rows written before the roll-up existed, and to repair it. One transaction that first takes a
    lock the usage writer must wait for (PostgreSQL: SHARE ROW EXCLUSIVE on the usage table; SQLite:
    the write lock), so no batch lands between the delete and the sums. Returns the roll-up rows written.
    """
    start = hour_of(since) if since is not None else None
    rows = UsageRecord.objects.all()
    rollups = UsageRollup.objects.all()
    if start is not None:
        rows = rows.filter(created_at__gte=start)
        rollups = rollups.filter(hour__gte=start)
    has_role_source = any(field.name == "role_source" for field in UsageRecord._meta.get_fields())
    grouped = (
        rows.annotate(
            hour=TruncHour("created_at", tzinfo=UTC),
            rollup_role_source=F("role_source") if has_role_source else Value(""),
            status_class=Concat(Cast(F("status_code") / 100, CharField()), Value("xx")),
        )
        .values("hour", "model", "provider", "role", "api_key_prefix", "profile", "rollup_role_source",
                "status_class")
        .order_by()
        .annotate(
            requests=Count("id"),
            errors=Count("id", filter=Q(status=UsageRecord.Status.ERROR)),
            fallbacks=Count("id", filter=Q(attempts__gt=1)),
            prompt_tokens_sum=Sum("prompt_tokens"),
            completion_tokens_sum=Sum("completion_tokens"),
            total_tokens_sum=Sum("total_tokens"),
            cost_sum=Sum("cost"),
            latency_ms_sum=Sum("latency_ms"),
            ttft_ms_sum=Coalesce(Sum("ttft_ms"), 0.0),
            ttft_count=Count("ttft_ms"),
            overhead_ms_sum=Sum("overhead_ms"),
        )
    )
    written = 0
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                table = connection.ops.quote_name(UsageRecord._meta.db_table)
                cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
        rollups.delete()
        batch: list[UsageRollup] = []
        for group in grouped.iterator(chunk_size=2000):
            batch.append(UsageRollup(
                hour=group["hour"], model=group["model"], provider=group["provider"], role=group["role"],
                api_key_prefix=group["api_key_prefix"], profile=group["profile"],
                role_source=group["rollup_role_source"], status_class=group["status_class"],
                requests=group["requests"], errors=group["errors"], fallbacks=group["fallbacks"],
                prompt_tokens=group["prompt_tokens_sum"], completion_tokens=group["completion_tokens_sum"],
                total_tokens=group["total_tokens_sum"], cost=group["cost_sum"] or 0,
                latency_ms_sum=group["latency_ms_sum"], ttft_ms_sum=group["ttft_ms_sum"],
                ttft_count=group["ttft_count"], overhead_ms_sum=group["overhead_ms_sum"],
            ))
            if len(batch) >= 2000:
                written += len(UsageRollup.objects.bulk_create(batch))
                batch = []
        written += len(UsageRollup.objects.bulk_create(batch))
    return written


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
