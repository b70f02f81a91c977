"""Rate limits and budgets: the sliding window in this process (with a clock the test drives) and in
the real Redis that production uses (atomic across concurrent callers)."""

from __future__ import annotations

import asyncio
import math
import uuid

import pytest

from apikeys.access import KeySpec
from apikeys.limits import (
    LocalLimiter,
    QuotaExceeded,
    RateLimited,
    RedisLimiter,
    current_month,
    estimate_tokens,
    format_duration,
    seconds_until_room,
)


def key(**limits) -> KeySpec:
    return KeySpec(prefix=f"gwk_{uuid.uuid4().hex[:8]}", name="t", digest="0" * 64, **limits)


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:  # 30 s into a minute
        self.now = now

    def __call__(self) -> float:
        return self.now


def run(coroutine):
    return asyncio.run(coroutine)


async def admitted(limiter, spec: KeySpec, count: int, estimated: int = 10) -> int:
    granted = 0
    for _ in range(count):
        try:
            await limiter.acquire(spec, estimated)
            granted += 1
        except RateLimited:
            pass
    return granted


def test_rpm_admits_exactly_the_limit_then_429_with_openai_headers():
    limiter, spec = LocalLimiter(Clock()), key(rpm_limit=5)
    assert run(admitted(limiter, spec, 5)) == 5
    with pytest.raises(RateLimited) as raised:
        run(limiter.acquire(spec, 10))
    error = raised.value
    assert error.status == 429 and error.code == "rate_limit_exceeded" and error.error_type == "requests"
    assert "5 requests per minute" in error.message
    assert error.headers["x-ratelimit-limit-requests"] == "5"
    assert error.headers["x-ratelimit-remaining-requests"] == "0"
    assert 1 <= int(error.headers["retry-after"]) <= 90
    assert int(error.headers["retry-after-ms"]) <= int(error.headers["retry-after"]) * 1000


def test_the_window_slides_instead_of_resetting_at_the_minute():
    clock = Clock(1_800_000_040.0)  # 40 s into a minute
    limiter, spec = LocalLimiter(clock), key(rpm_limit=10)
    assert run(admitted(limiter, spec, 10)) == 10
    clock.now += 25  # 5 s into the next minute: 10 * (55/60) ≈ 9.2 still count
    assert run(admitted(limiter, spec, 10)) == 0
    clock.now += 30  # 35 s in: 10 * (25/60) ≈ 4.2 count, so 5 fit
    assert run(admitted(limiter, spec, 10)) == 5
    clock.now += 120  # both windows long gone
    assert run(admitted(limiter, spec, 20)) == 10


def test_retry_after_is_when_room_opens_again():
    clock = Clock(1_800_000_040.0)
    limiter, spec = LocalLimiter(clock), key(rpm_limit=10)
    run(admitted(limiter, spec, 10))
    clock.now += 25
    with pytest.raises(RateLimited) as raised:
        run(limiter.acquire(spec, 1))
    wait = int(raised.value.headers["retry-after-ms"]) / 1000
    clock.now += wait - 0.05
    with pytest.raises(RateLimited):
        run(limiter.acquire(spec, 1))
    clock.now += 0.1
    run(limiter.acquire(spec, 1))


def test_tokens_are_estimated_before_and_corrected_after():
    limiter, spec = LocalLimiter(Clock()), key(tpm_limit=1000)
    grant = run(limiter.acquire(spec, 600))
    assert grant.headers["x-ratelimit-remaining-tokens"] == "400"
    with pytest.raises(RateLimited) as raised:
        run(limiter.acquire(spec, 600))
    assert "1000 tokens per minute" in raised.value.message
    limiter.settle(grant, tokens=150, cost=0.0)  # the answer used far less than the estimate
    assert run(limiter.acquire(spec, 600)).headers["x-ratelimit-remaining-tokens"] == "250"


def test_a_request_larger_than_the_tpm_limit_is_refused_without_retry():
    with pytest.raises(RateLimited) as raised:
        run(LocalLimiter(Clock()).acquire(key(tpm_limit=100), 101))
    assert "too large" in raised.value.message and raised.value.headers["x-should-retry"] == "false"


def test_a_key_past_its_monthly_budget_gets_insufficient_quota():
    clock = Clock()
    limiter, spec = LocalLimiter(clock), key(monthly_budget=1.0)
    limiter.seed_spend(current_month(clock.now), {spec.prefix: 0.75})
    grant = run(limiter.acquire(spec, 10))
    limiter.settle(grant, tokens=10, cost=0.30)
    with pytest.raises(QuotaExceeded) as raised:
        run(limiter.acquire(spec, 10))
    error = raised.value
    assert (error.status, error.code, error.error_type) == (429, "insufficient_quota", "insufficient_quota")
    assert error.headers["x-should-retry"] == "false" and "retry-after" not in error.headers
    clock.now += 40 * 24 * 3600  # a new month: a fresh budget
    run(limiter.acquire(spec, 10))


def test_seeding_never_overwrites_spend_this_process_has_counted():
    clock = Clock()
    limiter, spec = LocalLimiter(clock), key(monthly_budget=1.0)
    month = current_month(clock.now)
    limiter.seed_spend(month, {spec.prefix: 0.5})
    limiter.settle(run(limiter.acquire(spec, 1)), tokens=1, cost=0.6)
    limiter.seed_spend(month, {spec.prefix: 0.5})  # a later snapshot rebuild
    with pytest.raises(QuotaExceeded):
        run(limiter.acquire(spec, 1))


@pytest.mark.parametrize(
    "previous, current, need, limit, elapsed, expected",
    [(0, 0, 1, 10, 0, 0.0), (10, 0, 1, 10, 0, 6.0), (10, 0, 1, 10, 30, 0.0), (0, 10, 1, 10, 30, 36.0),
     (0, 0, 11, 10, 0, math.inf)],
)
def test_seconds_until_room(previous, current, need, limit, elapsed, expected):
    assert seconds_until_room(previous, current, need, limit, elapsed) == pytest.approx(expected)


def test_durations_are_written_like_openai_does():
    assert [format_duration(s) for s in (0.02, 1, 1.5, 360, 61.25)] == ["20ms", "1s", "1.5s", "6m0s", "1m1.25s"]


def test_the_token_estimate_counts_the_prompt_and_the_completion_cap():
    assert estimate_tokens(4000, 500) == 1500
    assert estimate_tokens(4000, None) == 1000
    assert estimate_tokens(4000, True) == 1000 and estimate_tokens(4000, "9") == 1000


# --- Redis: the shared limiter of a multi-process deployment.


@pytest.fixture
def redis_limiter(redis_url):
    return RedisLimiter(redis_url)


def test_redis_admits_exactly_the_limit_under_concurrency(redis_limiter):
    spec = key(rpm_limit=20)

    async def main():
        async def one():
            try:
                return await redis_limiter.acquire(spec, 5)
            except RateLimited as refused:
                return refused

        results = await asyncio.gather(*(one() for _ in range(60)))
        await redis_limiter.aclose()
        return results

    results = run(main())
    refused = [result for result in results if isinstance(result, RateLimited)]
    assert len(results) - len(refused) == 20
    assert all(error.headers["x-ratelimit-remaining-requests"] == "0" for error in refused)


def test_redis_tokens_corrected_and_budget_shared(redis_limiter, redis_url):
    spec = key(tpm_limit=1000, monthly_budget=0.5)

    async def main():
        grant = await redis_limiter.acquire(spec, 700)
        assert grant.headers["x-ratelimit-remaining-tokens"] == "300"
        redis_limiter.settle(grant, tokens=100, cost=0.6)
        await redis_limiter.drain()
        with pytest.raises(QuotaExceeded):
            await redis_limiter.acquire(spec, 10)
        await redis_limiter.aclose()

    run(main())
    other = RedisLimiter(redis_url)  # another process sees the same counters

    async def from_another_process():
        with pytest.raises(QuotaExceeded):
            await other.acquire(spec, 10)
        await other.aclose()

    run(from_another_process())


def test_redis_seeds_spend_only_where_it_has_none(redis_limiter):
    spec = key(monthly_budget=1.0)
    month = current_month(__import__("time").time())
    redis_limiter.seed_spend(month, {spec.prefix: 2.0})
    redis_limiter.seed_spend(month, {spec.prefix: 0.0})

    async def main():
        with pytest.raises(QuotaExceeded):
            await redis_limiter.acquire(spec, 1)
        await redis_limiter.aclose()

    run(main())


def test_an_unreachable_redis_lets_requests_through():
    limiter = RedisLimiter("redis://127.0.0.1:1/0")

    async def main():
        grant = await limiter.acquire(key(rpm_limit=1), 1)
        await limiter.aclose()
        return grant

    assert run(main()).headers == {}
