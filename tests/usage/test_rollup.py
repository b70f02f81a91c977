"""The hourly roll-up holds the same numbers as the raw rows: per day at UTC midnight, after retries and
journal replays (which write rows again), and after a backfill."""

from __future__ import annotations

import shutil
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate

from usage.events import UsageEvent
from usage.journal import Journal

pytestmark = pytest.mark.django_db(transaction=True)

MIDNIGHT = datetime(2026, 3, 1, tzinfo=UTC)
MOMENTS = [
    MIDNIGHT - timedelta(hours=1),
    MIDNIGHT - timedelta(microseconds=1),  # the last instant of 28 February
    MIDNIGHT,  # the first of 1 March
    MIDNIGHT + timedelta(minutes=59, seconds=59),
    MIDNIGHT + timedelta(hours=1),
    MIDNIGHT + timedelta(hours=23, minutes=59, seconds=59, microseconds=999999),
    MIDNIGHT + timedelta(days=1),
]


def make_events(prefix: str = "r") -> list[UsageEvent]:
    events = []
    for index in range(70):
        moment = MOMENTS[index % len(MOMENTS)]
        if index % 5 == 0:  # the same instant given in India's time (UTC+5:30): still the same UTC hour
            moment = moment.astimezone(timezone(timedelta(hours=5, minutes=30)))
        events.append(UsageEvent(
            created_at=moment,
            request_id=f"{prefix}-{index}",
            profile=("personal", "work")[index % 2],
            api_key_prefix=("gwk_aaaa1111", "gwk_bbbb2222", "")[index % 3],
            role=("architect", "debugging", "")[index % 3],
            conversation_id=f"conv-{index % 4}",
            model=("fast-model", "smart-model")[index % 2],
            provider=("nanogpt", "openai", "")[index % 3],
            attempts=1 + index % 3,
            prompt_tokens=10 * index,
            completion_tokens=index,
            total_tokens=11 * index,
            cost=0.00012345 * index,
            latency_ms=100.0 + index,
            ttft_ms=None if index % 4 == 0 else 20.0 + index,
            overhead_ms=0.5,
            status_code=(200, 200, 502, 429)[index % 4],
            status=("ok", "ok", "error", "error")[index % 4],
        ))
    return events


def raw_by_day() -> dict:
    from usage.models import UsageRecord

    rows = (UsageRecord.objects.annotate(day=TruncDate("created_at", tzinfo=UTC)).values("day").order_by("day")
            .annotate(requests=Count("id"), errors=Count("id", filter=Q(status="error")),
                      fallbacks=Count("id", filter=Q(attempts__gt=1)), tokens=Sum("total_tokens"),
                      prompt=Sum("prompt_tokens"), cost=Sum("cost"), latency=Sum("latency_ms"),
                      ttft_count=Count("ttft_ms")))
    return {row.pop("day"): _rounded(row) for row in rows}


def rollup_by_day(daily: bool = False) -> dict:
    from usage.models import UsageDailyRollup, UsageRollup

    days: dict = defaultdict(lambda: defaultdict(Decimal))
    for rollup in (UsageDailyRollup if daily else UsageRollup).objects.all():
        day = days[rollup.day if daily else rollup.hour.astimezone(UTC).date()]
        for name, value in (("requests", rollup.requests), ("errors", rollup.errors),
                            ("fallbacks", rollup.fallbacks), ("tokens", rollup.total_tokens),
                            ("prompt", rollup.prompt_tokens), ("cost", rollup.cost),
                            ("latency", rollup.latency_ms_sum), ("ttft_count", rollup.ttft_count)):
            day[name] += Decimal(str(value))
    return {day: _rounded(values) for day, values in sorted(days.items())}


def _rounded(values) -> dict:
    return {name: round(Decimal(str(value)), 6) for name, value in values.items()}


def test_daily_totals_from_the_rollup_equal_the_raw_rows_across_midnight():
    from usage.services import usage_records_write

    events = make_events()
    for start in range(0, len(events), 13):  # several batches, as the recorder writes them
        usage_records_write(events[start:start + 13])

    by_day = rollup_by_day()
    assert by_day == raw_by_day() == rollup_by_day(daily=True)
    assert list(by_day) == [datetime(2026, 2, 28).date(), datetime(2026, 3, 1).date(), datetime(2026, 3, 2).date()]
    # 70 events over 7 instants: 10 at each; 28 February has two of the instants, 1 March four, 2 March one
    assert [values["requests"] for values in by_day.values()] == [20, 40, 10]


def test_a_retried_batch_and_a_journal_replay_add_nothing(tmp_path):
    from usage.models import UsageRecord
    from usage.services import usage_records_write

    events = make_events("replay")
    journal = Journal(tmp_path / "live")
    for event in events:
        journal.append(event)
    [segment] = (tmp_path / "live").glob("*.jsonl")
    (tmp_path / "dead").mkdir()
    shutil.copy(segment, tmp_path / "dead" / "123-dead-000001.jsonl")  # a killed process's copy, unlocked

    usage_records_write(events[:40])  # committed before the "kill"
    usage_records_write(events[:40])  # an ambiguous failure retried
    result = Journal(tmp_path / "dead").replay_all(usage_records_write)
    assert result.events == 70

    assert UsageRecord.objects.count() == 70
    assert rollup_by_day() == raw_by_day() == rollup_by_day(daily=True)
    assert sum(values["requests"] for values in rollup_by_day().values()) == 70


def test_a_request_id_twice_in_one_batch_counts_once():
    from usage.models import UsageRollup
    from usage.services import usage_records_write

    first, second = make_events("dup")[:2]
    second.request_id = first.request_id
    usage_records_write([first, second])
    assert sum(UsageRollup.objects.values_list("requests", flat=True)) == 1
    assert rollup_by_day() == raw_by_day() == rollup_by_day(daily=True)


def test_backfill_rebuilds_the_same_rollup_the_writer_keeps():
    from usage.models import UsageDailyRollup, UsageRollup
    from usage.services import usage_records_write

    usage_records_write(make_events())

    def snapshot():
        return [sorted(tuple(round(value, 6) if isinstance(value, float | Decimal) else value for value in row)
                       for row in rollup.objects.values_list(*rollup.KEY_FIELDS, *rollup.SUM_FIELDS))
                for rollup in (UsageRollup, UsageDailyRollup)]

    kept = snapshot()
    assert len(kept[1]) < len(kept[0])  # days gather hours
    UsageRollup.objects.all().delete()
    UsageDailyRollup.objects.all().delete()
    call_command("usage_rollup_backfill")
    assert snapshot() == kept

    UsageRollup.objects.filter(hour__gte=MIDNIGHT).update(requests=999)  # damaged from 1 March on
    UsageDailyRollup.objects.filter(day__gte=MIDNIGHT.date()).delete()
    call_command("usage_rollup_backfill", "--since", "2026-03-01")
    assert snapshot() == kept
