"""The hourly roll-up: how usage events fold into `UsageRollup` rows, and the upsert that adds them.

One function decides each event's roll-up key (`rollup_key`), used by the writer for fresh rows; the
backfill (usage.services.usage_rollup_rebuild) computes the same key in SQL, and a test holds the two equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache

from django.db import connection

from usage.events import UsageEvent
from usage.models import ROLLUP_KEY_FIELDS, UsageRollup

SUM_FIELDS = UsageRollup.SUM_FIELDS
UPSERT_CHUNK = 400  # rows per INSERT: 19 columns x 400 stays far below SQLite's and PostgreSQL's parameter limits

RollupKey = tuple[datetime, str, str, str, str, str, str, str]


def hour_of(moment: datetime) -> datetime:
    """The start of the UTC hour `moment` falls in (a naive moment is taken as UTC)."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def status_class(status_code: int) -> str:
    return f"{int(status_code) // 100}xx"


def rollup_key(event: UsageEvent) -> RollupKey:
    return (
        hour_of(event.created_at),
        event.model,
        event.provider,
        event.role,
        event.api_key_prefix,
        event.profile,
        getattr(event, "role_source", "") or "",  # added by the role-detection work; '' until then
        status_class(event.status_code),
    )


def rollup_deltas(events: Iterable[UsageEvent]) -> dict[RollupKey, list]:
    """Each roll-up key's sums over `events`, in SUM_FIELDS order."""
    deltas: dict[RollupKey, list] = {}
    for event in events:
        sums = deltas.get(key := rollup_key(event))
        if sums is None:
            sums = deltas[key] = [0, 0, 0, 0, 0, 0, Decimal(0), 0.0, 0.0, 0, 0.0]
        sums[0] += 1
        sums[1] += event.status == "error"
        sums[2] += event.attempts > 1
        sums[3] += event.prompt_tokens
        sums[4] += event.completion_tokens
        sums[5] += event.total_tokens
        sums[6] += Decimal(f"{event.cost:.8f}")
        sums[7] += event.latency_ms
        if event.ttft_ms is not None:
            sums[8] += event.ttft_ms
            sums[9] += 1
        sums[10] += event.overhead_ms
    return deltas


@cache
def _upsert_sql(rows: int) -> str:
    quote = connection.ops.quote_name
    table = quote(UsageRollup._meta.db_table)
    names = ROLLUP_KEY_FIELDS + SUM_FIELDS
    columns = ", ".join(quote(UsageRollup._meta.get_field(name).column) for name in names)
    values = ", ".join(["(" + ", ".join(["%s"] * len(names)) + ")"] * rows)
    target = ", ".join(quote(UsageRollup._meta.get_field(name).column) for name in ROLLUP_KEY_FIELDS)
    updates = ", ".join(
        f"{column} = {table}.{column} + excluded.{column}"
        for column in (quote(UsageRollup._meta.get_field(name).column) for name in SUM_FIELDS)
    )
    return f"INSERT INTO {table} ({columns}) VALUES {values} ON CONFLICT ({target}) DO UPDATE SET {updates}"


def rollup_add(cursor, deltas: dict[RollupKey, list]) -> None:
    """Add `deltas` to the roll-up, inside the caller's transaction (one statement per UPSERT_CHUNK keys)."""
    ops = connection.ops
    cost_field = UsageRollup._meta.get_field("cost")
    rows: list[Sequence] = []
    for key, sums in deltas.items():
        row = [ops.adapt_datetimefield_value(key[0]), *key[1:], *sums]
        cost_at = len(ROLLUP_KEY_FIELDS) + SUM_FIELDS.index("cost")
        row[cost_at] = ops.adapt_decimalfield_value(row[cost_at], cost_field.max_digits, cost_field.decimal_places)
        rows.append(row)
    for start in range(0, len(rows), UPSERT_CHUNK):
        chunk = rows[start:start + UPSERT_CHUNK]
        cursor.execute(_upsert_sql(len(chunk)), [value for row in chunk for value in row])
