"""`manage.py usage_report` prints what the rows say, as a table, CSV and JSON; retention deletes old raw rows
in batches and keeps the roll-ups."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from usage.events import UsageEvent

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2026, 5, 10, tzinfo=UTC)


@pytest.fixture
def rows():
    from usage.services import usage_records_write

    events = [
        UsageEvent(created_at=START + timedelta(hours=index * 5), request_id=f"report-{index}",
                   model=("fast-model", "smart-model")[index % 2], role=("architect", "debugging")[index % 3 == 0],
                   provider="mockai", prompt_tokens=100, completion_tokens=10 * index, total_tokens=100 + 10 * index,
                   cost=0.01 * (index + 1), latency_ms=200.0, attempts=1 + (index == 3),
                   status_code=200 if index != 4 else 502, status="ok" if index != 4 else "error")
        for index in range(12)  # 10 May 00:00 to 12 May 07:00
    ]
    usage_records_write(events)
    return events


def report(*args: str) -> str:
    out = io.StringIO()
    call_command("usage_report", *args, stdout=out)
    return out.getvalue()


def test_json_groups_by_model_and_role(rows):
    data = json.loads(report("--since", "2026-05-10", "--until", "2026-05-11", "--group-by", "model,role",
                             "--format", "json"))
    day_one = [event for event in rows if event.created_at < START + timedelta(days=1)]
    assert sum(row["requests"] for row in data["rows"]) == len(day_one) == 5
    expected = {}
    for event in day_one:
        entry = expected.setdefault((event.model, event.role), {"requests": 0, "cost": 0.0, "tokens": 0})
        entry["requests"] += 1
        entry["cost"] += event.cost
        entry["tokens"] += event.total_tokens
    got = {(row["model"], row["role"]): {"requests": row["requests"], "cost": row["cost"],
                                          "tokens": row["total_tokens"]} for row in data["rows"]}
    assert got.keys() == expected.keys()
    for key, entry in expected.items():
        assert got[key]["requests"] == entry["requests"] and got[key]["tokens"] == entry["tokens"]
        assert got[key]["cost"] == pytest.approx(entry["cost"])
    assert data["rows"][0]["cost"] >= data["rows"][-1]["cost"]  # costliest first


def test_csv_by_day_and_the_table_total(rows):
    lines = list(csv.reader(io.StringIO(report("--since", "2026-05-10", "--until", "2026-05-13", "--group-by", "day",
                                               "--format", "csv"))))
    assert lines[0] == ["day", "requests", "errors", "fallbacks", "prompt_tokens", "completion_tokens",
                        "total_tokens", "cost", "avg_latency_ms"]
    assert [(line[0], line[1]) for line in lines[1:]] == [("2026-05-10", "5"), ("2026-05-11", "5"), ("2026-05-12", "2")]
    assert lines[1][2] == "1" and lines[1][3] == "1"  # the 502 and the fallback both fell on 10 May

    # not from midnight: the hourly roll-up, its hours gathered into days by the database
    lines = list(csv.reader(io.StringIO(report("--since", "2026-05-10T05:00", "--until", "2026-05-13",
                                               "--group-by", "day", "--format", "csv"))))
    assert [(line[0], line[1]) for line in lines[1:]] == [("2026-05-10", "4"), ("2026-05-11", "5"), ("2026-05-12", "2")]

    table = report("--since", "2026-05-10", "--until", "2026-05-13", "--group-by", "model")
    total_line = next(line for line in table.splitlines() if line.startswith("TOTAL"))
    assert total_line.split()[1] == "12"
    assert "smart-model" in table and "fast-model" in table


def test_bad_arguments_say_which(rows):
    with pytest.raises(CommandError, match="--group-by: unknown colour"):
        report("--group-by", "model,colour")
    with pytest.raises(CommandError, match="must be after"):
        report("--since", "2026-05-12", "--until", "2026-05-10")
    with pytest.raises(CommandError, match="whole hours"):
        report("--since", "2026-05-10T10:30")


def test_retention_deletes_old_raw_rows_in_batches_and_keeps_the_rollup(rows, settings):
    from usage.models import UsageRecord, UsageRollup
    from usage.services import usage_records_delete_batch, usage_records_delete_expired
    from usage.tasks import delete_expired_rows

    rollup_before = sorted(UsageRollup.objects.values_list("hour", "requests", "total_tokens"))
    cutoff = START + timedelta(days=1)
    assert usage_records_delete_batch(before=cutoff, batch_size=2) == 2  # the two oldest first
    assert not UsageRecord.objects.filter(request_id__in=["report-0", "report-1"]).exists()
    assert usage_records_delete_expired(days=1, now=cutoff + timedelta(days=1), pause_seconds=0) == 3
    assert UsageRecord.objects.filter(created_at__lt=cutoff).count() == 0
    assert UsageRecord.objects.count() == 7
    assert sorted(UsageRollup.objects.values_list("hour", "requests", "total_tokens")) == rollup_before

    settings.USAGE_RETENTION_DAYS = 0
    assert delete_expired_rows() == 0 and UsageRecord.objects.count() == 7  # default: keep
    settings.USAGE_RETENTION_DAYS = 1  # every seeded row is months older than a day
    assert delete_expired_rows() == 7 and UsageRecord.objects.count() == 0
    assert json.loads(report("--since", "2026-05-10", "--until", "2026-05-13", "--format", "json",
                             "--group-by", "provider"))["rows"][0]["requests"] == 12  # the report still has them


def test_in_process_retention_deletes_through_the_writer_thread(rows, settings):
    import asyncio

    from usage.models import UsageDailyRollup, UsageRecord
    from usage.retention import delete_expired_rows_now, start_in_process_retention

    assert asyncio.run(delete_expired_rows_now(days=1)) == 12
    assert UsageRecord.objects.count() == 0 and sum(UsageDailyRollup.objects.values_list("requests", flat=True)) == 12

    async def started() -> bool:
        import usage.retention

        start_in_process_retention()
        task = usage.retention._task
        if task is not None:
            task.cancel()
        return task is not None

    settings.USAGE_RETENTION_DAYS, settings.CELERY_TASK_ALWAYS_EAGER = 0, True
    assert asyncio.run(started()) is False  # default: keep everything
    settings.USAGE_RETENTION_DAYS = 30
    assert asyncio.run(started()) is True  # no broker: the gateway process runs it
    settings.CELERY_TASK_ALWAYS_EAGER = False
    import usage.retention

    usage.retention._task = None
    assert asyncio.run(started()) is False  # with a broker, Celery beat does
