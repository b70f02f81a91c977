"""Every request leaves exactly one usage row: under concurrency, on failure, and across a shutdown."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime

import httpx
import pytest

from tests.conftest import dedicated_gateway, usage_rows
from usage.events import UsageEvent
from usage.recorder import UsageRecorder


def test_n_concurrent_requests_give_n_rows(gateway):
    async def run() -> list[int]:
        async with httpx.AsyncClient(base_url=gateway.base_url, timeout=20) as http:
            async def one(index: int) -> int:
                body = {"model": "auto" if index % 3 else "smart-model", "stream": index % 2 == 0,
                        "messages": [{"role": "user", "content": f"request {index}"}],
                        "conversation_id": f"conv-{index % 5}"}
                response = await http.post("/chat/completions", json=body)
                await response.aread()
                return response.status_code

            return await asyncio.gather(*(one(index) for index in range(120)))

    statuses = asyncio.run(run())
    assert statuses == [200] * 120
    rows = usage_rows(120)
    assert len(rows) == 120
    assert len({row.request_id for row in rows}) == 120
    assert sum(row.stream for row in rows) == 60
    assert all(row.total_tokens > 0 and row.status == "ok" for row in rows)


def event(index: int) -> UsageEvent:
    return UsageEvent(created_at=datetime.now(UTC), request_id=f"unit-{index}", model="m", total_tokens=index)


@pytest.mark.django_db(transaction=True)
def test_recorder_batches_and_retries_a_failed_write():
    from usage.models import UsageRecord
    from usage.services import usage_records_write

    calls = []

    def flaky_write(batch):
        calls.append(len(batch))
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return usage_records_write(batch)

    async def run() -> UsageRecorder:
        recorder = UsageRecorder(flaky_write, flush_interval=0.02, batch_size=1000)
        for index in range(25):
            recorder.record(event(index))
        assert recorder.pending == 25  # recording never waits for the database
        for _ in range(100):
            await asyncio.sleep(0.02)
            if recorder.written == 25:
                break
        await recorder.aclose()
        return recorder

    recorder = asyncio.run(run())
    assert calls[0] == 25 and recorder.written == 25 and recorder.pending == 0
    assert UsageRecord.objects.count() == 25


@pytest.mark.django_db(transaction=True)
def test_rewriting_a_batch_never_duplicates_rows():
    from usage.models import UsageRecord
    from usage.services import usage_records_write

    batch = [event(index) for index in range(5)]
    usage_records_write(batch)
    usage_records_write(batch)  # e.g. the commit landed but the connection dropped before the ack
    assert UsageRecord.objects.count() == 5


def test_sigterm_flushes_buffered_rows(gateway_process, routing, upstream, tmp_path):
    """A second gateway with a long flush interval: rows are still in memory when SIGTERM arrives."""
    from usage.models import UsageRecord

    gateway_process.sync_config()
    with dedicated_gateway(tmp_path, USAGE_FLUSH_INTERVAL="60", USAGE_JOURNAL_DIR="off") as second:
        for index in range(7):
            response = httpx.post(f"{second.base_url}/chat/completions", timeout=10, json={
                "model": "smart-model", "messages": [{"role": "user", "content": f"n{index}"}],
                "conversation_id": "sigterm-test",
            })
            assert response.status_code == 200
        assert second.status()["usage_rows_pending"] == 7
        second.process.send_signal(signal.SIGTERM)
        assert second.process.wait(timeout=20) == 0  # a clean exit, after the flush
    assert UsageRecord.objects.filter(conversation_id="sigterm-test").count() == 7

