"""The per-conversation role memory: bounded, least recently used first, and forgetful after its TTL."""

from __future__ import annotations

import time

from prompts.sticky import Decision, StickyRoles


def test_entries_expire_after_the_ttl():
    roles = StickyRoles(max_entries=10, ttl_seconds=0.05)
    roles.put(("k", "c1"), Decision("debugging", "fast_path", 0.8))
    assert roles.get(("k", "c1")) == Decision("debugging", "fast_path", 0.8)
    time.sleep(0.06)
    assert roles.get(("k", "c1")) is None and len(roles) == 0


def test_the_least_recently_used_conversation_is_forgotten_first():
    roles = StickyRoles(max_entries=2, ttl_seconds=60)
    roles.put(("k", "a"), Decision("architect", "classifier", 0.6))
    roles.put(("k", "b"), Decision("testing", "fast_path", 0.9))
    roles.put(("k", "a"), Decision("architect", "classifier", 0.6))  # used again: now the newest
    roles.put(("k", "c"), Decision("general", "default", 0.0))
    assert roles.get(("k", "b")) is None
    assert roles.get(("k", "a")) is not None and roles.get(("k", "c")) is not None


def test_the_same_conversation_id_under_another_key_is_another_conversation():
    roles = StickyRoles(max_entries=10, ttl_seconds=60)
    roles.put(("key-1", "c"), Decision("debugging", "fast_path", 0.8))
    assert roles.get(("key-2", "c")) is None


def test_with_redis_a_decision_reaches_another_process(redis_url):
    """Two maps stand for two gateway processes sharing one Redis."""
    import asyncio
    import uuid

    first = StickyRoles(max_entries=10, ttl_seconds=60, redis_url=redis_url)
    second = StickyRoles(max_entries=10, ttl_seconds=60, redis_url=redis_url)
    key = ("gwk_x", f"conv-{uuid.uuid4().hex}")

    async def scenario():
        assert await second.lookup(key) is None
        first.remember(key, Decision("debugging", "fast_path", 0.8))
        await asyncio.gather(*first._writes)
        found = await second.lookup(key)
        assert await StickyRoles(10, 60, "redis://127.0.0.1:1/0").lookup(key) is None  # Redis down: no error
        return found

    assert asyncio.run(scenario()) == Decision("debugging", "fast_path", 0.8)
    assert second.get(key) == Decision("debugging", "fast_path", 0.8)  # kept locally after the read


def test_detection_reads_the_system_messages_and_the_newest_turns_of_a_long_loop():
    from prompts.steps import DETECTION_WINDOW, detection_window

    system = {"role": "system", "content": "You are an agent."}
    turns = [{"role": "user", "content": f"turn {i}"} for i in range(DETECTION_WINDOW * 3)]
    window = detection_window([system, *turns])
    assert window == [system, *turns[-DETECTION_WINDOW:]]
    short = [system, *turns[:5]]
    assert detection_window(short) is short
