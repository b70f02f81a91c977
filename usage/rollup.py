"""The roll-ups: how usage events fold into `UsageRollup` (per UTC hour) and `UsageDailyRollup` (per UTC
day) rows, and the upsert that adds them.

One function decides each event's dimensions (`dimensions_of`), used by the writer for fresh rows; the
backfill (usage.services.usage_rollup_rebuild) computes the same in SQL, and a test holds the two equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache

from django.db import connection

from usage.events import UsageEvent
from usage.models import SUM_FIELDS, RollupSums, UsageDailyRollup, UsageRollup

UPSERT_CHUNK = 400  # rows per INSERT: 19 columns x 400 stays far below SQLite's and PostgreSQL's parameter limits
ROLLUPS: tuple[type[RollupSums], ...] = (UsageRollup, UsageDailyRollup)

Dimensions = tuple[str, str, str, str, str, str, str]


def hour_of(moment: datetime) -> datetime:
    """The start of the UTC hour `moment` falls in (a naive moment is taken as UTC)."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def day_of(moment: datetime) -> date:
    return hour_of(moment).date()


def status_class(status_code: int) -> str:
    return f"{int(status_code) // 100}xx"


def dimensions_of(event: UsageEvent) -> Dimensions:
    return (
        event.model,
        event.provider,
        event.role,
        event.api_key_prefix,
        event.profile,
        getattr(event, "role_source", "") or "",  # added by the role-detection work; '' until then
        status_class(event.status_code),
    )


def rollup_deltas(events: Iterable[UsageEvent], bucket_of=hour_of) -> dict[tuple, list]:
    """Each (bucket, dimensions) key's sums over `events`, in SUM_FIELDS order."""
    deltas: dict[tuple, list] = {}
    for event in events:
        key = (bucket_of(event.created_at), *dimensions_of(event))
        sums = deltas.get(key)
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
def _upsert_sql(rollup: type[RollupSums], rows: int) -> str:
    quote = connection.ops.quote_name
    table = quote(rollup._meta.db_table)
    column = {name: quote(rollup._meta.get_field(name).column) for name in (*rollup.KEY_FIELDS, *SUM_FIELDS)}
    columns = ", ".join(column[name] for name in (*rollup.KEY_FIELDS, *SUM_FIELDS))
    values = ", ".join(["(" + ", ".join(["%s"] * len(column)) + ")"] * rows)
    target = ", ".join(column[name] for name in rollup.KEY_FIELDS)
    updates = ", ".join(f"{column[name]} = {table}.{column[name]} + excluded.{column[name]}" for name in SUM_FIELDS)
    return f"INSERT INTO {table} ({columns}) VALUES {values} ON CONFLICT ({target}) DO UPDATE SET {updates}"


def rollups_add(cursor, events: Sequence[UsageEvent]) -> None:
    """Add `events` to both roll-ups, inside the caller's transaction."""
    if not events:
        return
    rollup_add(cursor, UsageRollup, rollup_deltas(events, hour_of))
    rollup_add(cursor, UsageDailyRollup, rollup_deltas(events, day_of))


def rollup_add(cursor, rollup: type[RollupSums], deltas: dict[tuple, list]) -> None:
    """Add `deltas` to one roll-up (one statement per UPSERT_CHUNK keys)."""
    ops = connection.ops
    cost_field = rollup._meta.get_field("cost")
    cost_at = len(rollup.KEY_FIELDS) + SUM_FIELDS.index("cost")
    adapt_bucket = ops.adapt_datetimefield_value if rollup.BUCKET == "hour" else ops.adapt_datefield_value
    rows: list[list] = []
    for key, sums in deltas.items():
        row = [adapt_bucket(key[0]), *key[1:], *sums]
        row[cost_at] = ops.adapt_decimalfield_value(row[cost_at], cost_field.max_digits, cost_field.decimal_places)
        rows.append(row)
    for start in range(0, len(rows), UPSERT_CHUNK):
        chunk = rows[start:start + UPSERT_CHUNK]
        cursor.execute(_upsert_sql(rollup, len(chunk)), [value for row in chunk for value in row])
