"""The generic reserve/settle counters, used the way a provider's monthly token quota will use them:
a period total with reservations, in this process and in the real Redis (atomic across callers)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from core.counters import ALLOWED, OVER_PERIOD, Limits, LocalCounters, RedisCounters

QUOTA = Limits(period_limit=1000)


def subject() -> str:
    return f"provider:test-{uuid.uuid4().hex[:8]}"


async def reserve_many(counters, name: str, count: int, amount: int) -> list:
    return await asyncio.gather(*(counters.acquire(name, QUOTA, tokens=0, period="2026-12", reserve=amount)
                                  for _ in range(count)))


def test_reservations_stop_at_the_period_limit_and_settlement_corrects_them():
    counters, name = LocalCounters(), subject()
    states = asyncio.run(reserve_many(counters, name, 15, 100))
    assert [state.reason for state in states] == [ALLOWED] * 10 + [OVER_PERIOD] * 5
    assert counters.used(name, "2026-12") == 1000
    for state in states[:10]:  # each used 40 tokens instead of the 100 reserved
        counters.settle(name, state.window, tokens_delta=0, period="2026-12", period_delta=40 - state.reserved)
    assert counters.used(name, "2026-12") == 400
    again = asyncio.run(counters.acquire(name, QUOTA, tokens=0, period="2026-12", reserve=600))
    assert again.admitted and again.period_used == 1000
    refused = asyncio.run(counters.acquire(name, QUOTA, tokens=0, period="2026-12", reserve=1))
    assert refused.reason == OVER_PERIOD and refused.reserved == 0


def test_a_seeded_total_counts_but_never_overwrites_a_live_one():
    counters, name = LocalCounters(), subject()
    counters.seed("2026-12", {name: 900})
    counters.seed("2026-12", {name: 0})
    assert not asyncio.run(counters.acquire(name, QUOTA, tokens=0, period="2026-12", reserve=200)).admitted
    assert asyncio.run(counters.acquire(name, QUOTA, tokens=0, period="2027-01", reserve=200)).admitted


@pytest.fixture
def redis_counters(redis_url):
    return RedisCounters(redis_url)


def test_redis_reservations_never_overshoot_under_concurrency(redis_counters):
    name = subject()

    async def main():
        states = await reserve_many(redis_counters, name, 50, 70)
        admitted = [state for state in states if state.admitted]
        for state in admitted:
            redis_counters.settle(name, state.window, tokens_delta=0, period="2026-12", period_delta=-state.reserved)
        await asyncio.gather(*redis_counters._pending)
        after = await redis_counters.acquire(name, QUOTA, tokens=0, period="2026-12", reserve=1000)
        await redis_counters.aclose()
        return admitted, after

    admitted, after = asyncio.run(main())
    assert len(admitted) == 14  # 14 × 70 = 980 fits; a 15th would pass 1000
    assert max(state.period_used for state in admitted) == 980
    assert after.admitted  # every reservation given back: the whole quota is free again


def test_an_unreachable_redis_admits_and_settles_nothing():
    counters = RedisCounters("redis://127.0.0.1:1/0")

    async def main():
        state = await counters.acquire(subject(), QUOTA, tokens=0, period="2026-12", reserve=5000)
        await counters.aclose()
        return state

    state = asyncio.run(main())
    assert state.admitted and state.window == -1 and state.reserved == 0
