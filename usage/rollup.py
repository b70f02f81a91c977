"""The roll-ups: how usage events fold into `UsageRollup` (per UTC hour) and `UsageDailyRollup` (per UTC
day) rows, and the upsert that adds them.

`rollup_deltas` decides each event's buckets and dimensions for the writer; the backfill
(usage.services.usage_rollup_rebuild) computes the same in SQL, and a test holds the two equal.
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

def hour_of(moment: datetime) -> datetime:
    """The start of the UTC hour `moment` falls in (a naive moment is taken as UTC)."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def day_of(moment: datetime) -> date:
    return hour_of(moment).date()


def rollup_deltas(events: Iterable[UsageEvent]) -> tuple[dict[tuple, list], dict[tuple, list]]:
    """The hourly and the daily roll-up's (bucket, dimensions) keys and their sums over `events`, in
    SUM_FIELDS order. Runs in the writer thread holding the GIL, so it is kept lean: hours as integers
    while summing, cost in integer units of 1e-8 dollars (exactly the rows' rounded values), and the
    days summed from the hours rather than from the events again."""
    hours: dict[tuple, list] = {}
    for event in events:
        moment = event.created_at
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        key = (int(moment.timestamp() // 3600), event.model, event.provider, event.role, event.api_key_prefix,
               event.profile, getattr(event, "role_source", "") or "", event.status_code // 100)
        sums = hours.get(key)
        if sums is None:
            sums = hours[key] = [0, 0, 0, 0, 0, 0, 0, 0.0, 0.0, 0, 0.0]
        sums[0] += 1
        sums[1] += event.status == "error"
        sums[2] += event.attempts > 1
        sums[3] += event.prompt_tokens
        sums[4] += event.completion_tokens
        sums[5] += event.total_tokens
        sums[6] += int(f"{event.cost:.8f}".replace(".", ""))
        sums[7] += event.latency_ms
        if event.ttft_ms is not None:
            sums[8] += event.ttft_ms
            sums[9] += 1
        sums[10] += event.overhead_ms
    days: dict[tuple, list] = {}
    for (hour, *dimensions), sums in hours.items():
        key = (hour // 24, *dimensions)
        total = days.get(key)
        if total is None:
            days[key] = list(sums)
        else:
            for index, value in enumerate(sums):
                total[index] += value
    return (
        {(datetime.fromtimestamp(hour * 3600, UTC), *rest[:-1], f"{rest[-1]}xx"): _finished(sums)
         for (hour, *rest), sums in hours.items()},
        {(date.fromordinal(EPOCH_ORDINAL + day), *rest[:-1], f"{rest[-1]}xx"): _finished(sums)
         for (day, *rest), sums in days.items()},
    )


EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _finished(sums: list) -> list:
    sums[6] = Decimal(sums[6]).scaleb(-8)
    return sums


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
    hourly, daily = rollup_deltas(events)
    rollup_add(cursor, UsageRollup, hourly)
    rollup_add(cursor, UsageDailyRollup, daily)


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
