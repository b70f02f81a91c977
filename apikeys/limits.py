"""Per-key rate limits (requests and tokens per minute) and monthly budgets.

A sliding-window counter: the current fixed minute's count plus the previous minute's, weighted by
how much of it still lies inside the last 60 seconds. O(1) per request and never lets more than the
limit through in any minute-aligned window. With REDIS_URL the counters live in Redis and one Lua
script checks and counts atomically in one round trip, so every gateway process shares them;
without it they live in this process (single-process deployments).

Tokens are estimated before the call (prompt bytes / 4 + max_tokens) and corrected after it with
the upstream's count; spend is added after each call and checked before the next one.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field

from apikeys.access import KeySpec
from core.errors import GatewayError

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60
ALLOWED, OVER_REQUESTS, OVER_TOKENS, TOO_LARGE, OVER_BUDGET = range(5)


class RateLimited(GatewayError):
    status = 429
    error_type = "requests"
    code = "rate_limit_exceeded"


class QuotaExceeded(GatewayError):
    status = 429
    error_type = "insufficient_quota"
    code = "insufficient_quota"


@dataclass(slots=True)
class Counts:
    """What one key's windows hold, as read (and, if admitted, updated) at admission."""

    window: int
    elapsed: float  # seconds into the current window
    previous_requests: float = 0
    current_requests: float = 0
    previous_tokens: float = 0
    current_tokens: float = 0
    spent: float = 0.0


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


def sliding(previous: float, current: float, elapsed: float) -> float:
    return previous * (1 - elapsed / WINDOW_SECONDS) + current


def verdict(key: KeySpec, counts: Counts, estimated: int) -> int:
    """Whether a request may pass, before counting it. The Lua script below mirrors this."""
    if key.monthly_budget is not None and counts.spent >= key.monthly_budget:
        return OVER_BUDGET
    if key.tpm_limit and estimated > key.tpm_limit:
        return TOO_LARGE
    requests = sliding(counts.previous_requests, counts.current_requests, counts.elapsed)
    if key.rpm_limit and requests + 1 > key.rpm_limit:
        return OVER_REQUESTS
    tokens = sliding(counts.previous_tokens, counts.current_tokens, counts.elapsed)
    if key.tpm_limit and tokens + estimated > key.tpm_limit:
        return OVER_TOKENS
    return ALLOWED


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


def limit_headers(key: KeySpec, counts: Counts) -> dict[str, str]:
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


def refusal(key: KeySpec, counts: Counts, estimated: int, reason: int) -> GatewayError:
    headers = limit_headers(key, counts)
    if reason == OVER_BUDGET:
        headers["x-should-retry"] = "false"
        return QuotaExceeded(
            f"This key has used its monthly budget (${key.monthly_budget:.2f}; spent ${counts.spent:.4f}).",
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


def current_month(now: float) -> str:
    return time.strftime("%Y-%m", time.gmtime(now))


class LocalLimiter:
    """Counters in this process: exact for a single gateway process, per-process with several."""

    def __init__(self, clock=time.time) -> None:
        self._clock = clock
        self._windows: dict[str, list[float]] = {}  # prefix -> [window, requests, tokens, prev requests, prev tokens]
        self._spend: dict[tuple[str, str], float] = {}

    def seed_spend(self, month: str, spend: dict[str, float]) -> None:
        """Committed spend read from the usage rows; ignored for keys this process already tracks."""
        for prefix, amount in spend.items():
            self._spend.setdefault((prefix, month), amount)

    def _roll(self, prefix: str, window: int) -> list[float]:
        state = self._windows.get(prefix)
        if state is None or state[0] < window - 1:
            state = self._windows[prefix] = [window, 0, 0, 0, 0]
        elif state[0] == window - 1:
            state[:] = [window, 0, 0, state[1], state[2]]
        return state

    async def acquire(self, key: KeySpec, estimated: int) -> Grant:
        now = self._clock()
        window = int(now // WINDOW_SECONDS)
        month = current_month(now)
        state = self._roll(key.prefix, window)
        counts = Counts(
            window, now - window * WINDOW_SECONDS, state[3], state[1], state[4], state[2],
            self._spend.get((key.prefix, month), 0.0),
        )
        reason = verdict(key, counts, estimated)
        if reason != ALLOWED:
            raise refusal(key, counts, estimated, reason)
        if key.rpm_limit:
            state[1] += 1
            counts.current_requests += 1
        if key.tpm_limit:
            state[2] += estimated
            counts.current_tokens += estimated
        return Grant(key, window, estimated, month, limit_headers(key, counts))

    def settle(self, grant: Grant, tokens: int, cost: float) -> None:
        state = self._windows.get(grant.key.prefix)
        if grant.key.tpm_limit and state is not None:
            delta = tokens - grant.estimated_tokens
            if state[0] == grant.window:
                state[2] = max(state[2] + delta, 0)
            elif state[0] == grant.window + 1:
                state[4] = max(state[4] + delta, 0)
        if cost:
            spend_key = (grant.key.prefix, current_month(self._clock()))
            self._spend[spend_key] = self._spend.get(spend_key, 0.0) + cost

    async def aclose(self) -> None:
        return None


_ACQUIRE = """
local rpm, tpm, estimated, budget, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4]), tonumber(ARGV[5])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local index = math.floor(now / window)
local elapsed = now - index * window
local weight = 1 - elapsed / window
local base = KEYS[1]
local rc, rp = base .. ':r:' .. index, base .. ':r:' .. (index - 1)
local tc, tp = base .. ':t:' .. index, base .. ':t:' .. (index - 1)
local values = redis.call('MGET', rc, rp, tc, tp)
local cur_r, prev_r = tonumber(values[1]) or 0, tonumber(values[2]) or 0
local cur_t, prev_t = tonumber(values[3]) or 0, tonumber(values[4]) or 0
local spent = tonumber(redis.call('GET', KEYS[2])) or 0
local reason = 0
if budget >= 0 and spent >= budget then reason = 4
elseif tpm > 0 and estimated > tpm then reason = 3
elseif rpm > 0 and prev_r * weight + cur_r + 1 > rpm then reason = 1
elseif tpm > 0 and prev_t * weight + cur_t + estimated > tpm then reason = 2
end
if reason == 0 then
  if rpm > 0 then cur_r = redis.call('INCR', rc); redis.call('EXPIRE', rc, window * 2 + 10) end
  if tpm > 0 then cur_t = redis.call('INCRBY', tc, estimated); redis.call('EXPIRE', tc, window * 2 + 10) end
end
return {reason, index, tostring(elapsed), prev_r, cur_r, prev_t, cur_t, tostring(spent)}
"""

_SETTLE = """
local delta, cost = tonumber(ARGV[1]), tonumber(ARGV[2])
if delta ~= 0 and redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCRBY', KEYS[1], delta) end
if cost > 0 then redis.call('INCRBYFLOAT', KEYS[2], ARGV[2]); redis.call('EXPIRE', KEYS[2], ARGV[3]) end
return 1
"""

SPEND_TTL_SECONDS = 40 * 24 * 3600


def _base(prefix: str) -> str:
    return f"gw:rl:{{{prefix}}}"  # the braces keep one key's counters in one Redis Cluster slot


def _spend_key(prefix: str, month: str) -> str:
    return f"gw:spend:{{{prefix}}}:{month}"


class RedisLimiter:
    """Counters in Redis, shared by every gateway process; one round trip per admitted request.

    If Redis cannot be reached the request is let through (and logged): a limiter outage must not
    take the gateway down with it.
    """

    def __init__(self, url: str, clock=time.time) -> None:
        self._url = url
        self._clock = clock
        self._clients: dict[asyncio.AbstractEventLoop, object] = {}
        self._pending: set[asyncio.Task] = set()
        self._last_warning = 0.0

    def _client(self):
        import redis.asyncio as redis_asyncio

        loop = asyncio.get_running_loop()
        entry = self._clients.get(loop)
        if entry is None:
            client = redis_asyncio.Redis.from_url(self._url, socket_timeout=2, socket_connect_timeout=2)
            entry = self._clients[loop] = (client, client.register_script(_ACQUIRE), client.register_script(_SETTLE))
        return entry

    def seed_spend(self, month: str, spend: dict[str, float]) -> None:
        """Called from the DB thread at snapshot build: fills in counters Redis lost (never overwrites)."""
        if not spend:
            return
        import redis

        client = redis.Redis.from_url(self._url, socket_timeout=2, socket_connect_timeout=2)
        try:
            with client.pipeline(transaction=False) as pipe:
                for prefix, amount in spend.items():
                    pipe.set(_spend_key(prefix, month), repr(amount), nx=True, ex=SPEND_TTL_SECONDS)
                pipe.execute()
        except Exception:
            logger.warning("could not seed budget counters in Redis", exc_info=True)
        finally:
            client.close()

    async def acquire(self, key: KeySpec, estimated: int) -> Grant:
        month = current_month(self._clock())
        try:
            _, acquire, _ = self._client()
            reply = await acquire(
                keys=[_base(key.prefix), _spend_key(key.prefix, month)],
                args=[key.rpm_limit or 0, key.tpm_limit or 0, estimated,
                      -1 if key.monthly_budget is None else key.monthly_budget, WINDOW_SECONDS],
            )
        except Exception:
            self._warn("rate limits not applied: Redis unavailable")
            return Grant(key, -1, estimated, month)
        reason, window = int(reply[0]), int(reply[1])
        counts = Counts(window, float(reply[2]), *(float(value) for value in reply[3:7]), float(reply[7]))
        if reason != ALLOWED:
            raise refusal(key, counts, estimated, reason)
        return Grant(key, window, estimated, month, limit_headers(key, counts))

    def settle(self, grant: Grant, tokens: int, cost: float) -> None:
        delta = tokens - grant.estimated_tokens if grant.key.tpm_limit and grant.window >= 0 else 0
        if not delta and not cost:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a sync caller): the next snapshot build re-seeds spend from the usage rows
        task = loop.create_task(self._settle(grant, delta, cost))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _settle(self, grant: Grant, delta: int, cost: float) -> None:
        try:
            _, _, settle = self._client()
            await settle(
                keys=[f"{_base(grant.key.prefix)}:t:{grant.window}", _spend_key(grant.key.prefix, grant.month)],
                args=[delta, repr(float(cost)), SPEND_TTL_SECONDS],
            )
        except Exception:
            self._warn("could not settle a request's tokens and spend in Redis")

    async def aclose(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        loop = asyncio.get_running_loop()
        entry = self._clients.pop(loop, None)
        if entry is not None:
            await entry[0].aclose()

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_warning > 10:
            self._last_warning = now
            logger.warning(message, exc_info=True)
