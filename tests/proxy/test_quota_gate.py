"""The quota gate on its own: reserve before a candidate, give back on failure, settle after the answer."""

from __future__ import annotations

import asyncio

import pytest

from core.counters import LocalCounters, RedisCounters
from providers.specs import ModelSpec, ProviderSpec
from proxy.quota import ProviderQuotas, QuotaGate, current_month, subject_of, warning_level
from routing.selection import Candidate

FREE = ProviderSpec("nanogpt", "openai_compatible", "http://free", "free", 30, True, "", monthly_token_quota=1000)
PAID = ProviderSpec("openai", "openai_compatible", "http://paid", "paid", 30, True, "")
ON_FREE = Candidate(ModelSpec("free-model", "nanogpt", "f"), FREE, "free_tier")
ON_PAID = Candidate(ModelSpec("paid-model", "openai", "p"), PAID, "primary")


def gate(quotas: ProviderQuotas, tokens: int) -> QuotaGate:
    async def estimate() -> int:
        return tokens

    return QuotaGate(quotas, estimate)


@pytest.fixture
def quotas(transactional_db) -> ProviderQuotas:
    return ProviderQuotas(LocalCounters())


def used(quotas: ProviderQuotas) -> float:
    return quotas.counters.used(subject_of("nanogpt"), current_month(quotas.counters.clock()))


def test_reserve_skip_release_and_settle(quotas):
    async def scenario():
        first = gate(quotas, 600)
        assert await first.admit(ON_PAID) is None and not first.reservations  # no quota: nothing reserved
        assert await first.admit(ON_FREE) is None and used(quotas) == 600
        assert first.headers(ON_FREE) == {"x-gateway-quota-remaining": "400", "x-gateway-quota-provider": "nanogpt"}
        second = gate(quotas, 600)
        assert await second.admit(ON_FREE) == "quota_exhausted" and used(quotas) == 600  # 600 + 600 > 1000
        assert second.headers(ON_PAID)["x-gateway-quota-remaining"] == "400"
        first.settle("nanogpt", 150)  # the answer used 150 of the 600 reserved
        assert used(quotas) == 150
        third = gate(quotas, 800)
        assert await third.admit(ON_FREE) is None and used(quotas) == 950
        third.release(ON_FREE)  # the candidate failed: its reservation is given back
        assert used(quotas) == 150 and not third.reservations

    asyncio.run(scenario())


def test_an_unreachable_redis_lets_the_request_through_without_claiming_a_remainder(transactional_db):
    quotas = ProviderQuotas(RedisCounters("redis://127.0.0.1:1/0"))

    async def scenario():
        request = gate(quotas, 600)
        assert await request.admit(ON_FREE) is None
        assert request.headers(ON_FREE) == {}
        await quotas.counters.aclose()

    asyncio.run(scenario())


@pytest.mark.parametrize(("used_tokens", "level"), [(0, None), (499, None), (500, 50), (760, 75), (900, 90),
                                                    (1000, 100), (5000, 100)])
def test_warning_levels(used_tokens, level):
    assert warning_level(used_tokens, 1000) == level


def test_a_redis_that_lost_the_month_gets_it_back_from_the_usage_rows(transactional_db, redis_url):
    import redis
    from django.utils import timezone

    from usage.models import UsageRecord

    UsageRecord.objects.create(created_at=timezone.now(), request_id="so-far", provider="nanogpt", total_tokens=420)
    quotas = ProviderQuotas(RedisCounters(redis_url))
    quotas._reseed_seconds = 0.0  # every call may re-seed (60 s in production)
    client = redis.Redis.from_url(redis_url)
    key = f"gw:total:{{{subject_of('nanogpt')}}}:{current_month(quotas.counters.clock())}"
    client.delete(key)

    async def scenario():
        assert await quotas.used("nanogpt") == 420
        client.delete(key)  # Redis restarted without persistence
        assert await quotas.used("nanogpt") == 420
        assert await gate(quotas, 600).admit(ON_FREE) == "quota_exhausted"  # 420 + 600 > 1000
        assert await gate(quotas, 500).admit(ON_FREE) is None and await quotas.used("nanogpt") == 920
        await quotas.counters.aclose()

    try:
        asyncio.run(scenario())
    finally:
        client.delete(key)
        client.close()
