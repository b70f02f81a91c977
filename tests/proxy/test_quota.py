"""A free tier's monthly token quota that routes: spent first, never overspent, and saying so.

`mockfree` (free tier) gets a small quota and a place in role 'general''s ranking; the personal profile
tries it first. Each request reserves its prompt (counted by the gateway) plus max_tokens, and settles
with the upstream's count (the mock counts words: "hi" -> 1 prompt + 4 completion tokens). Each test runs
gateway processes of its own: quota counters live in the process (or in Redis), not in the test database.
"""

from __future__ import annotations

import concurrent.futures
import time

import httpx
import pytest

from core.tokens import count_message_tokens
from tests.conftest import dedicated_gateway, usage_rows

QUOTA = 100
MESSAGES = [{"role": "user", "content": "hi"}]
BODY = {"model": "auto", "max_tokens": 20, "messages": MESSAGES}
RESERVED = count_message_tokens(MESSAGES) + 20  # what the gateway reserves for one request
USED = 5  # what the mock reports for one answer: 1 prompt word + "mock reply to: hi"


@pytest.fixture
def quota_routing(routing):
    from routing.models import RankingEntry, Role

    routing.free.monthly_token_quota = QUOTA
    routing.free.save()
    RankingEntry.objects.create(role=Role.objects.get(name="general"), model=routing.models["free-model"],
                                kind="free_tier", position=5, reason="costs nothing")
    return routing


def chat(gateway, body=BODY) -> httpx.Response:
    return httpx.post(f"{gateway.base_url}/chat/completions", json=body, timeout=20)


def quota_status(gateway) -> dict:
    [entry] = [q for q in gateway.status()["quotas"] if q["provider"] == "mockfree"]
    return entry


def test_sequential_requests_switch_to_the_paid_tier_at_the_right_request(quota_routing, upstream, second_upstream,
                                                                          tmp_path):
    upstream.reset()
    second_upstream.reset()
    # The request that no longer fits: the first n with n * USED + RESERVED > QUOTA.
    switch = next(n for n in range(100) if n * USED + RESERVED > QUOTA)
    with dedicated_gateway(tmp_path) as gateway:
        gateway.sync_config()
        responses = [chat(gateway) for _ in range(switch + 2)]
        status = quota_status(gateway)
        gateway.drain_usage()
    assert all(response.status_code == 200 for response in responses)
    providers = [response.headers["x-gateway-provider"] for response in responses]
    assert providers == ["mockfree"] * switch + ["mockai"] * 2
    first, last_free, first_paid = responses[0], responses[switch - 1], responses[switch]
    assert first.headers["x-gateway-quota-remaining"] == str(QUOTA - RESERVED)
    assert last_free.headers["x-gateway-quota-remaining"] == str(QUOTA - (switch - 1) * USED - RESERVED)
    assert first_paid.headers["x-gateway-quota-remaining"] == str(QUOTA - switch * USED)
    assert first_paid.headers["x-gateway-quota-provider"] == "mockfree"
    assert first_paid.headers["x-gateway-route-reason"] == (
        "fast-model via mockai: role 'general' ranking #1 (primary: test ranking 0); "
        "before it: free-model via mockfree skipped (free-tier quota exhausted)")
    assert status["used_this_month"] == switch * USED and status["remaining"] == QUOTA - switch * USED
    assert status["warning_level"] == 75 and "over 75%" in status["warning"]
    rows = usage_rows(switch + 2)
    assert [row.provider for row in rows] == providers
    assert sum(row.total_tokens for row in rows if row.provider == "mockfree") == switch * USED
    paid = rows[switch]
    assert paid.attempts == 1 and paid.attempt_log[0] == {
        "provider": "mockfree", "model": "free-model", "status": None, "error": "", "ms": 0.0, "try": 0,
        "skipped": "quota_exhausted"}
    assert "quota exhausted" in paid.route_reason


def test_a_model_with_only_the_free_tier_left_gets_a_429_once_the_quota_is_spent(quota_routing, second_upstream,
                                                                                 tmp_path):
    from routing.models import Provider

    Provider.objects.filter(name="mockfree").update(monthly_token_quota=RESERVED)
    with dedicated_gateway(tmp_path) as gateway:
        gateway.sync_config()
        body = {**BODY, "model": "free-model"}
        assert chat(gateway, body).status_code == 200  # the whole quota reserved, 5 used
        refused = chat(gateway, body)
        gateway.drain_usage()
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "quota_exhausted" and refused.headers["x-should-retry"] == "false"
    assert refused.headers["x-gateway-quota-remaining"] == str(RESERVED - USED)


def test_50_concurrent_requests_never_overspend_the_quota(quota_routing, upstream, second_upstream, tmp_path):
    upstream.reset()
    second_upstream.reset()
    second_upstream.configure(models={"free-upstream": {"latency_ms": 50}})  # reservations overlap
    with dedicated_gateway(tmp_path) as gateway:
        gateway.sync_config()
        with concurrent.futures.ThreadPoolExecutor(50) as pool:
            responses = list(pool.map(lambda _: chat(gateway), range(50)))
        status = quota_status(gateway)
        gateway.drain_usage()
    assert all(response.status_code == 200 for response in responses)
    for response in responses:
        assert 0 <= int(response.headers["x-gateway-quota-remaining"]) <= QUOTA
        if response.headers["x-gateway-provider"] == "mockai":
            assert "free-model via mockfree skipped (free-tier quota exhausted)" in \
                response.headers["x-gateway-route-reason"]
    rows = usage_rows(50)
    free = [row for row in rows if row.provider == "mockfree"]
    free_tokens = sum(row.total_tokens for row in free)
    assert free and len(free) < 50 and free_tokens <= QUOTA  # never past the quota
    assert status["used_this_month"] == free_tokens  # every reservation settled with the real count
    for row in rows:
        if row.provider == "mockai":
            assert row.attempt_log[0]["skipped"] == "quota_exhausted" and row.model == "fast-model"


def test_the_month_so_far_is_seeded_from_the_usage_rows(quota_routing, upstream, tmp_path):
    from django.utils import timezone

    from usage.models import UsageRecord

    UsageRecord.objects.create(created_at=timezone.now(), request_id="earlier", provider="mockfree",
                               total_tokens=QUOTA - RESERVED + 1)
    upstream.reset()
    with dedicated_gateway(tmp_path) as gateway:
        gateway.sync_config()
        response = chat(gateway)
        assert quota_status(gateway)["used_this_month"] == QUOTA - RESERVED + 1
        gateway.drain_usage()
    assert response.headers["x-gateway-provider"] == "mockai"
    assert response.headers["x-gateway-quota-remaining"] == str(RESERVED - 1)


def test_two_gateway_processes_share_the_quota_through_redis(quota_routing, upstream, second_upstream, tmp_path,
                                                             redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter("gw:total:{quota:mockfree}:*"):
        client.delete(key)
    upstream.reset()
    second_upstream.reset()
    switch = next(n for n in range(100) if n * USED + RESERVED > QUOTA)
    try:
        with dedicated_gateway(tmp_path / "a", REDIS_URL=redis_url) as first, \
                dedicated_gateway(tmp_path / "b", REDIS_URL=redis_url) as second:
            first.sync_config()
            second.sync_config()
            providers = []
            for n in range(switch + 2):  # alternating processes, one request at a time
                response = chat(first if n % 2 else second)
                providers.append(response.headers["x-gateway-provider"])
                deadline = time.monotonic() + 5
                while quota_status(first)["used_this_month"] != USED * min(n + 1, switch):
                    assert time.monotonic() < deadline, "the settlement did not reach Redis"
                    time.sleep(0.02)
            assert providers == ["mockfree"] * switch + ["mockai"] * 2
            assert quota_status(second)["used_this_month"] == switch * USED

            # 50 at once, half on each process: the shared counter never lets them past the quota.
            for key in client.scan_iter("gw:total:{quota:mockfree}:*"):
                client.set(key, "0")
            second_upstream.configure(models={"free-upstream": {"latency_ms": 50}})
            with concurrent.futures.ThreadPoolExecutor(50) as pool:
                burst = list(pool.map(lambda n: chat(first if n % 2 else second), range(50)))
            first.drain_usage()
            second.drain_usage()
        assert all(response.status_code == 200 for response in burst)
        rows = usage_rows(switch + 2 + 50)[switch + 2:]
        free_tokens = sum(row.total_tokens for row in rows if row.provider == "mockfree")
        assert 0 < free_tokens <= QUOTA
        [key] = list(client.scan_iter("gw:total:{quota:mockfree}:*"))
        assert float(client.get(key)) == free_tokens
    finally:
        for key in client.scan_iter("gw:total:{quota:mockfree}:*"):
            client.delete(key)
        client.close()
