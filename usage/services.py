"""Writes of usage rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from decimal import Decimal
from functools import cache

from django.db import close_old_connections, connection, transaction

from usage.events import UsageEvent
from usage.models import UsageRecord

# Adapted per row (everything else goes to the driver as is).
DATETIME_FIELDS = ("created_at",)
DECIMAL_FIELDS = ("cost",)
JSON_FIELDS = ("attempt_log",)


@cache
def _insert_sql() -> tuple[str, tuple[str, ...]]:
    names = tuple(field.name for field in fields(UsageEvent))
    table = connection.ops.quote_name(UsageRecord._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(UsageRecord._meta.get_field(name).column) for name in names)
    placeholders = ", ".join(["%s"] * len(names))
    conflict = connection.ops.quote_name(UsageRecord._meta.get_field("request_id").column)
    return f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) ON CONFLICT ({conflict}) DO NOTHING", names


def usage_records_write(events: Sequence[UsageEvent]) -> int:
    """Write a batch atomically: all rows or none, so a retried batch never half-duplicates.

    Rows already written (same request id) are skipped, which makes a retry after an ambiguous
    failure (the commit landed but the connection dropped) safe. One `executemany` of plain tuples:
    the ORM's bulk_create spent ~120 µs of CPU per row, holding the GIL against the event loop.
    """
    close_old_connections()
    sql, names = _insert_sql()
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
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, rows)
    return len(rows)
