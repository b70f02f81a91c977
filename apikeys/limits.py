"""Per-key rate limits (requests and tokens per minute) and monthly budgets, on core.counters.

Tokens are estimated before the call (prompt bytes / 4 + max_tokens) and corrected after it with the
upstream's count; spend is added after each call and checked before the next one. The counters (this
process, or Redis with REDIS_URL) are the generic ones every limit uses; this module adds what is
particular to keys: their limits, OpenAI's x-ratelimit-* headers and the 429s' wording.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from apikeys.access import KeySpec
from core.counters import (
    ALLOWED,
    OVER_PERIOD,
    OVER_REQUESTS,
    TOO_LARGE,
    WINDOW_SECONDS,
    CounterState,
    Limits,
    LocalCounters,
    RedisCounters,
    sliding,
)
from core.errors import GatewayError

OVER_BUDGET = OVER_PERIOD


class RateLimited(GatewayError):
    status = 429
    error_type = "requests"
    code = "rate_limit_exceeded"


class QuotaExceeded(GatewayError):
    status = 429
    error_type = "insufficient_quota"
    code = "insufficient_quota"


@dataclass(slots=True)
class Grant:
    """An admitted request: settled after the call with its real token count and cost."""

    key: KeySpec
    window: int
    estimated_tokens: int
    month: str
    headers: dict[str, str] = field(default_factory=dict)


def estimate_tokens(body_bytes: int, max_tokens: object) -> int:
    """Before the call: about 4 bytes of request JSON per prompt token, plus the completion cap."""
    completion = max_tokens if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) else 0
    return max(body_bytes // 4, 1) + max(completion, 0)


def seconds_until_room(previous: float, current: float, need: float, limit: int, elapsed: float) -> float:
    """How long until `need` more fits under `limit` as the window slides (inf if it never will)."""
    if need > limit:
        return math.inf
    if sliding(previous, current, elapsed) + need <= limit:
        return 0.0
    if current + need <= limit:  # the previous minute's share decays enough within this window
        return max(WINDOW_SECONDS * (1 - (limit - current - need) / previous) - elapsed, 0.0)
    # after the roll the current count becomes the previous one and decays in turn
    return (WINDOW_SECONDS - elapsed) + WINDOW_SECONDS * (1 - (limit - need) / current)


def format_duration(seconds: float) -> str:
    """OpenAI's style for x-ratelimit-reset-*: '20ms', '1.5s', '6m0s'."""
    if seconds < 1:
        return f"{max(int(seconds * 1000), 0)}ms"
    minutes, rest = divmod(seconds, 60)
    rest_text = f"{rest:.3f}".rstrip("0").rstrip(".")
    return f"{int(minutes)}m{rest_text}s" if minutes else f"{rest_text}s"


def key_limits(key: KeySpec) -> Limits:
    return Limits(rpm=key.rpm_limit or 0, tpm=key.tpm_limit or 0, period_limit=key.monthly_budget)


def subject_of(key: KeySpec) -> str:
    return key.prefix


def current_month(now: float) -> str:
    return time.strftime("%Y-%m", time.gmtime(now))


def limit_headers(key: KeySpec, counts: CounterState) -> dict[str, str]:
    """x-ratelimit-* as OpenAI sends them; `reset` is when the window is back to its full allowance."""
    headers: dict[str, str] = {}
    for kind, limit, previous, current in (
        ("requests", key.rpm_limit, counts.previous_requests, counts.current_requests),
        ("tokens", key.tpm_limit, counts.previous_tokens, counts.current_tokens),
    ):
        if not limit:
            continue
        used = sliding(previous, current, counts.elapsed)
        until_empty = (WINDOW_SECONDS - counts.elapsed) + (WINDOW_SECONDS if current else 0) if used else 0.0
        headers[f"x-ratelimit-limit-{kind}"] = str(limit)
        headers[f"x-ratelimit-remaining-{kind}"] = str(max(limit - math.ceil(used), 0))
        headers[f"x-ratelimit-reset-{kind}"] = format_duration(until_empty)
    return headers


def refusal(key: KeySpec, counts: CounterState, estimated: int, reason: int) -> GatewayError:
    headers = limit_headers(key, counts)
    if reason == OVER_BUDGET:
        headers["x-should-retry"] = "false"
        return QuotaExceeded(
            f"This key has used its monthly budget (${key.monthly_budget:.2f}; spent ${counts.period_used:.4f}).",
            headers=headers,
        )
    if reason == TOO_LARGE:
        headers["x-should-retry"] = "false"
        return RateLimited(
            f"Request too large: about {estimated} tokens, over this key's limit of {key.tpm_limit} tokens per "
            "minute. Send less or lower max_tokens.", code="rate_limit_exceeded", headers=headers,
        )
    if reason == OVER_REQUESTS:
        wait = seconds_until_room(counts.previous_requests, counts.current_requests, 1, key.rpm_limit, counts.elapsed)
        what = f"{key.rpm_limit} requests per minute"
    else:
        wait = seconds_until_room(
            counts.previous_tokens, counts.current_tokens, estimated, key.tpm_limit, counts.elapsed
        )
        what = f"{key.tpm_limit} tokens per minute"
    wait = max(wait, 0.001)
    headers["retry-after"] = str(math.ceil(wait))
    headers["retry-after-ms"] = str(math.ceil(wait * 1000))
    return RateLimited(f"Rate limit reached for key {key.prefix}…: {what}. Try again in {wait:.2f}s.", headers=headers)


class KeyLimiter:
    """Admission and settlement for gateway keys over a set of counters (local or Redis)."""

    def __init__(self, counters: LocalCounters | RedisCounters) -> None:
        self.counters = counters

    def seed_spend(self, month: str, spend: dict[str, float]) -> None:
        """Committed spend read from the usage rows (by key prefix); never overwrites live counters."""
        self.counters.seed(month, spend)

    async def acquire(self, key: KeySpec, estimated: int) -> Grant:
        """Count the request; raises RateLimited or QuotaExceeded (429) when over."""
        month = current_month(self.counters.clock())
        state = await self.counters.acquire(subject_of(key), key_limits(key), tokens=estimated, period=month)
        return self._grant(key, estimated, month, state)

    def _grant(self, key: KeySpec, estimated: int, month: str, state: CounterState) -> Grant:
        if state.reason != ALLOWED:
            raise refusal(key, state, estimated, state.reason)
        if state.window < 0:
            return Grant(key, -1, estimated, month)  # the counters were unreachable: admitted, unchecked
        return Grant(key, state.window, estimated, month, limit_headers(key, state))

    def settle(self, grant: Grant, tokens: int, cost: float) -> None:
        delta = tokens - grant.estimated_tokens if grant.key.tpm_limit else 0
        self.counters.settle(subject_of(grant.key), grant.window, tokens_delta=delta,
                             period=current_month(self.counters.clock()), period_delta=cost)

    async def drain(self) -> None:
        """Wait for settlements still on their way to the counters (Redis)."""
        pending = getattr(self.counters, "_pending", None)
        if pending:
            import asyncio

            await asyncio.gather(*pending, return_exceptions=True)

    async def aclose(self) -> None:
        await self.counters.aclose()


class LocalLimiter(KeyLimiter):
    """Keys' counters in this process: exact for a single gateway process, per-process with several."""

    def __init__(self, clock=time.time) -> None:
        super().__init__(LocalCounters(clock))


class RedisLimiter(KeyLimiter):
    """Keys' counters in Redis, shared by every gateway process; one round trip per admitted request."""

    def __init__(self, url: str, clock=time.time) -> None:
        super().__init__(RedisCounters(url, clock))
