"""The snapshot holder: an edit is visible to the next request, even while another rebuild is running."""

from __future__ import annotations

import asyncio
import threading

import pytest

from core.snapshots import SnapshotHolder

# The holder loads in the gateway's DB thread, which tidies its connections first: let it.
pytestmark = pytest.mark.django_db(transaction=True)


class Source:
    """Stands in for the database: a value, a version token, and a switch to make loads slow."""

    def __init__(self) -> None:
        self.value = "v1"
        self.token = "t1"
        self.loads = 0
        self.gate = threading.Event()
        self.gate.set()

    def build(self) -> str:
        value = self.value  # read first, like a query, then maybe wait
        self.gate.wait(5)
        self.loads += 1
        return value

    def read_token(self) -> str:
        return self.token


def test_local_invalidation_rebuilds_on_next_get():
    source = Source()
    holder = SnapshotHolder(source.build, source.read_token, refresh_seconds=60)

    async def run():
        assert await holder.get() == "v1"
        assert await holder.get() == "v1" and source.loads == 1  # cached
        source.value = "v2"
        holder.invalidate()
        assert await holder.get() == "v2"

    asyncio.run(run())


def test_request_during_a_rebuild_waits_for_it_instead_of_getting_the_replaced_snapshot():
    """The race the admin-edit test once hit: the poller was rebuilding after an edit, and a request
    arriving meanwhile was served the old snapshot."""
    source = Source()
    holder = SnapshotHolder(source.build, source.read_token, refresh_seconds=60)

    async def run():
        assert await holder.get() == "v1"
        source.value = "v2"
        holder.invalidate()  # an edit committed
        source.gate.clear()
        rebuilding = asyncio.ensure_future(holder.get())  # e.g. the poller: reads v2, then is slow
        await asyncio.sleep(0.05)
        request = asyncio.ensure_future(holder.get())
        await asyncio.sleep(0.05)
        assert not request.done()
        source.gate.set()
        assert await request == "v2" and await rebuilding == "v2"

    asyncio.run(run())


def test_edit_during_a_running_rebuild_is_not_lost():
    """The bug this guards against: a rebuild already reading old rows must not clear a newer edit."""
    source = Source()
    holder = SnapshotHolder(source.build, source.read_token, refresh_seconds=60)

    async def run():
        assert await holder.get() == "v1"
        holder.invalidate()
        source.gate.clear()  # the next load reads "v1" and then blocks
        slow = asyncio.ensure_future(holder.get())
        await asyncio.sleep(0.05)
        source.value = "v2"  # an edit commits while that load is running...
        holder.invalidate()  # ...and invalidates
        waiting = asyncio.ensure_future(holder.get())
        await asyncio.sleep(0.05)
        assert not waiting.done()  # a request arriving now waits for fresh data, not the replaced snapshot
        source.gate.set()
        assert await slow == "v1"
        assert await waiting == "v2"

    asyncio.run(run())


def test_other_processes_edits_arrive_through_the_token_poll():
    source = Source()
    holder = SnapshotHolder(source.build, source.read_token, refresh_seconds=0.02)

    async def run():
        assert await holder.get() == "v1"
        source.value, source.token = "v2", "t2"  # another process edited and bumped the version
        for _ in range(100):
            await asyncio.sleep(0.02)
            if holder.current_or_none() == "v2":
                break
        assert await holder.get() == "v2" and holder.token == "t2"

    asyncio.run(run())


def test_every_holder_is_polled_in_one_trip_with_one_query_for_all_tokens(monkeypatch):
    """Five holders (routing, keys, strategies, context policies, MCP servers) share one poll: each tick is one
    trip to a reader thread that reads every token in one query, not one task, hop and query per holder."""
    from core import snapshots, versions
    from core.models import ConfigVersion

    ConfigVersion.objects.create(key="one", token="00000000-0000-0000-0000-000000000001")
    ConfigVersion.objects.create(key="two", token="00000000-0000-0000-0000-000000000002")
    trips, queries = [], []
    read_tokens = snapshots._read_tokens

    def counted(holders):
        trips.append(len(holders))
        return read_tokens(holders)

    monkeypatch.setattr(snapshots, "_read_tokens", counted)
    real_read_once = versions.read_once

    def read_once():
        queries.append(1)
        return real_read_once()

    monkeypatch.setattr(versions, "read_once", read_once)
    builds = []
    first = SnapshotHolder(lambda: builds.append(1) or "first", lambda: versions.version_token("one"),
                           refresh_seconds=0.02)
    second = SnapshotHolder(lambda: "second", lambda: versions.version_token("two"), refresh_seconds=60)

    async def run():
        assert await first.get() == "first" and await second.get() == "second"
        for _ in range(200):
            await asyncio.sleep(0.02)
            if len(trips) >= 3:
                break
        await asyncio.to_thread(  # another process's edit
            ConfigVersion.objects.filter(key="two").update, token="00000000-0000-0000-0000-000000000003")
        for _ in range(200):
            await asyncio.sleep(0.02)
            if second.token == "00000000-0000-0000-0000-000000000003":
                break

    asyncio.run(run())
    assert trips and set(trips) == {2}  # both holders each time, at the shorter holder's interval
    assert len(queries) == len(trips)
    assert first.token == "00000000-0000-0000-0000-000000000001"
    assert len(builds) == 1  # the poll reads tokens as the first load did: an unchanged one rebuilds nothing
    assert second.token == "00000000-0000-0000-0000-000000000003"  # the 60 s holder saw the edit in the shared tick
