"""The usage journal: a row recorded by a process that is then killed outright is written anyway.

Unit tests drive `Journal` directly (a second instance in this process stands in for another
process: `flock` locks are per open file, so it cannot take a live instance's locks). The end-to-end
test SIGKILLs a real Daphne gateway holding buffered rows and starts a new one on the same data.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, GatewayProcess, dedicated_gateway
from usage.events import UsageEvent
from usage.journal import Journal, encode, read_segment
from usage.recorder import UsageRecorder


def event(index: int, **overrides) -> UsageEvent:
    values = dict(
        created_at=datetime(2025, 3, 4, 5, 6, 7, 123456 + index, tzinfo=UTC),
        request_id=f"journal-{index}",
        model="fast-model",
        provider="mockai",
        stream=index % 2 == 0,
        attempts=2,
        attempt_log=[
            {"provider": "mockai", "model": "smart-model", "status": 503, "error": 'upstream said "no"\nline 2',
             "ms": 12.34},
            {"provider": "mockai", "model": "fast-model", "status": None, "error": "", "ms": 0.1 + 0.2},
        ],
        prompt_tokens=10 + index,
        completion_tokens=5,
        total_tokens=15 + index,
        cost=0.00012345,
        latency_ms=1 / 3,
        ttft_ms=None if index % 3 else 2.5,
        error_message="ünïcödé ✓",
    )
    values.update(overrides)
    return UsageEvent(**values)


def segment_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.jsonl")) if directory.exists() else []


def test_events_round_trip_exactly(tmp_path):
    journal = Journal(tmp_path)
    events = [event(index) for index in range(6)]
    events.append(event(6, created_at=datetime(2025, 1, 1, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5)))))
    events.append(event(7, created_at=datetime(2025, 1, 1, tzinfo=UTC), attempt_log=[], ttft_ms=0.0))
    for item in events:
        journal.append(item)
    [path] = segment_files(tmp_path)
    replayed, skipped = read_segment(path)
    assert replayed == events and skipped == 0
    assert [item.created_at.utcoffset() for item in replayed] == [item.created_at.utcoffset() for item in events]


@pytest.mark.django_db(transaction=True)
def test_replayed_rows_equal_rows_written_directly(tmp_path):
    """The journal adds nothing and loses nothing on the way to the database."""
    from usage.models import UsageRecord
    from usage.services import usage_records_write

    direct, journaled = event(1, request_id="direct"), event(1, request_id="journaled")
    usage_records_write([direct])
    Journal(tmp_path).append(journaled)
    [path] = segment_files(tmp_path)
    usage_records_write(read_segment(path)[0])
    rows = {row.request_id: row for row in UsageRecord.objects.all()}
    skip = {"id", "request_id"}
    as_dict = {name: {f.name: getattr(row, f.name) for f in UsageRecord._meta.fields if f.name not in skip}
               for name, row in rows.items()}
    assert as_dict["journaled"] == as_dict["direct"]
    assert rows["journaled"].created_at == journaled.created_at
    assert rows["journaled"].attempt_log == journaled.attempt_log


def test_segments_rotate_and_go_once_committed(tmp_path):
    journal = Journal(tmp_path, segment_bytes=2000)  # a handful of events per segment
    appended = [(item, journal.append(item)) for item in (event(index) for index in range(30))]
    segments = list(dict.fromkeys(segment for _, segment in appended))
    assert len(segments) >= 4 and len(segment_files(tmp_path)) == len(segments)
    first, second = segments[0], segments[1]
    journal.committed({first: sum(1 for _, s in appended if s is first) - 1})
    assert first.path.exists()  # one event of it is still only in memory and the journal
    journal.committed({first: 1, second: sum(1 for _, s in appended if s is second)})
    assert not first.path.exists() and not second.path.exists()
    active = segments[-1]
    journal.committed({s: sum(1 for _, x in appended if x is s) for s in segments[2:-1]})
    assert segment_files(tmp_path) == [active.path]  # the active segment stays until sealed
    journal.close()
    assert active.path.exists()  # closed with uncommitted events: kept (and locked) for a replay
    journal.committed({active: sum(1 for _, s in appended if s is active)})
    assert segment_files(tmp_path) == []
    assert journal.append(event(99)) is not None  # a closed journal opens a new segment when needed
    assert len(segment_files(tmp_path)) == 1


def test_a_torn_last_line_is_skipped(tmp_path):
    journal = Journal(tmp_path)
    for index in range(5):
        journal.append(event(index))
    [path] = segment_files(tmp_path)
    with path.open("ab") as file:
        file.write(encode(event(5))[:-40])  # a write cut short by the kill
    replayed, skipped = read_segment(path)
    assert [item.request_id for item in replayed] == [f"journal-{index}" for index in range(5)]
    assert skipped == 1


KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from tests.usage.test_journal import event
from usage.journal import Journal

journal = Journal(Path(sys.argv[1]))
for index in range(int(sys.argv[2])):
    journal.append(event(index))
os.kill(os.getpid(), signal.SIGKILL)
"""


def write_then_get_killed(directory: Path, count: int) -> None:
    """A real process journals `count` events and dies by SIGKILL, its segment still locked until then."""
    process = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(directory), str(count)], cwd=ROOT,
                             timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert process.returncode == -signal.SIGKILL


@pytest.mark.django_db(transaction=True)
def test_replay_writes_a_dead_process_segment_once_then_deletes_it(tmp_path):
    from usage.models import UsageRecord
    from usage.services import usage_records_write

    write_then_get_killed(tmp_path, 12)
    [orphan] = segment_files(tmp_path)
    usage_records_write([event(index) for index in range(8)])  # committed before the kill
    shutil.copy(orphan, tmp_path / "copy.bak")

    result = Journal(tmp_path).replay_all(usage_records_write)
    assert (result.segments, result.events, result.skipped_lines) == (1, 12, 0)
    assert segment_files(tmp_path) == []
    assert sorted(UsageRecord.objects.values_list("request_id", flat=True)) == sorted(
        f"journal-{index}" for index in range(12))

    shutil.move(tmp_path / "copy.bak", tmp_path / "again.jsonl")  # the same segment replayed twice
    assert Journal(tmp_path).replay_all(usage_records_write).events == 12
    assert UsageRecord.objects.count() == 12


def test_a_live_process_segments_are_not_replayed(tmp_path):
    live = Journal(tmp_path)
    live.append(event(1))
    writes = []
    other = Journal(tmp_path)
    assert other.orphans() == live.segment_paths()
    assert other.replay_all(writes.append).segments == 0
    assert writes == [] and segment_files(tmp_path) == live.segment_paths()


@pytest.mark.django_db(transaction=True)
def test_recorder_journals_then_drops_committed_segments(tmp_path):
    from usage.models import UsageRecord
    from usage.services import usage_records_write

    directory = tmp_path / "journal"
    write_then_get_killed(directory, 3)  # an earlier process's rows, picked up when the task starts
    journal = Journal(directory, segment_bytes=2000)

    async def run() -> UsageRecorder:
        recorder = UsageRecorder(usage_records_write, flush_interval=0.02, batch_size=1000, journal=journal)
        for index in range(100, 140):
            recorder.record(event(index))
        for _ in range(250):
            await asyncio.sleep(0.02)
            if recorder.written == 40 and recorder.replayed == 3:
                break
        assert len(journal.segment_paths()) <= 1  # sealed segments went as their rows were committed
        await recorder.aclose()
        return recorder

    recorder = asyncio.run(run())
    assert recorder.written == 40 and recorder.replayed == 3
    assert UsageRecord.objects.count() == 43
    assert not directory.exists()  # a clean shutdown leaves no journal behind, not even its directory


@pytest.mark.django_db(transaction=True)
def test_an_unwritable_directory_logs_once_and_rows_are_still_written(tmp_path, caplog):
    from usage.models import UsageRecord
    from usage.services import usage_records_write

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    journal = Journal(blocker / "journal")

    async def run() -> None:
        recorder = UsageRecorder(usage_records_write, flush_interval=0.02, batch_size=1000, journal=journal)
        for index in range(5):
            recorder.record(event(index))
        await recorder.aclose()

    with caplog.at_level(logging.WARNING, logger="usage.journal"):
        asyncio.run(run())
    assert len([r for r in caplog.records if r.name == "usage.journal"]) == 1
    assert UsageRecord.objects.count() == 5


# -- end to end: a real gateway process, killed ------------------------------------------------------


def kill(gateway: GatewayProcess) -> None:
    gateway.process.send_signal(signal.SIGKILL)
    assert gateway.process.wait(timeout=10) == -signal.SIGKILL


def committed(request_ids: set[str]) -> list:
    from usage.models import UsageRecord

    return list(UsageRecord.objects.filter(request_id__in=request_ids))


def wait_for_rows(request_ids: set[str], timeout: float = 30.0) -> list:
    deadline = time.monotonic() + timeout
    while True:
        rows = committed(request_ids)
        if len(rows) >= len(request_ids) or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_sigkill_loses_no_recorded_row(routing, upstream, tmp_path):
    """Rows still in memory when the process is killed come back, once, from its journal."""
    upstream.reset()
    journal_dir = tmp_path / "journal"
    env = {"USAGE_FLUSH_INTERVAL": "30", "USAGE_BATCH_SIZE": "16", "USAGE_JOURNAL_DIR": str(journal_dir)}
    sent: dict[str, bool] = {}
    with dedicated_gateway(tmp_path, **env) as first:
        first.sync_config()
        with httpx.Client(base_url=first.base_url, timeout=20) as http:
            for index in range(40):
                body = {"model": "smart-model" if index % 4 else "auto", "stream": index % 2 == 0,
                        "messages": [{"role": "user", "content": f"kill test {index}"}]}
                with http.stream("POST", "/chat/completions", json=body) as response:
                    response.read()
                assert response.status_code == 200
                sent[response.headers["x-request-id"]] = body["stream"]
        ids = set(sent)
        # Batches of 16 (USAGE_BATCH_SIZE) were written; the rest, fewer than 16, are only in memory.
        deadline = time.monotonic() + 20
        while first.status()["usage_rows_pending"] >= 16 and time.monotonic() < deadline:
            time.sleep(0.05)
        pending, written = first.status()["usage_rows_pending"], len(committed(ids))
        assert 0 < pending < 16 and written >= 16 and pending + written == 40
        kill(first)
    [database_dir] = journal_dir.iterdir()
    assert len(segment_files(database_dir)) == 1  # the dead process's segment, 40 events

    with dedicated_gateway(tmp_path, **env) as second:  # replays on its first request (here: /health)
        rows = wait_for_rows(ids)
        assert len(rows) == 40 and {row.request_id for row in rows} == ids
        assert all(row.stream == sent[row.request_id] and row.status == "ok" and row.total_tokens > 0
                   for row in rows)
        deadline = time.monotonic() + 10
        while segment_files(database_dir) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert segment_files(database_dir) == []  # replayed, then deleted
        assert second.status()["usage_rows_pending"] == 0
    assert len(committed(ids)) == 40  # and nothing written twice
    assert segment_files(database_dir) == []
