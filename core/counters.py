"""Reserve/settle counters for limits: per-minute rates and per-period totals, of any subject.

A subject is whatever is limited: a gateway key today (`key:<prefix>`: requests and tokens per minute,
dollars per month), a provider's free-tier token quota per month next. Admission checks and counts in
one step (`acquire`): the minute's requests and tokens by a sliding window (the current fixed minute's
count plus the previous one's, weighted by how much of it still lies inside the last 60 seconds), and the
period's total, to which `reserve` is added at once, so concurrent requests cannot all pass on the same
remainder. After the call `settle` replaces the estimates with what really happened.

With REDIS_URL the counters live in Redis and one Lua script checks and counts atomically in one round
trip, so every gateway process shares them; without it they live in this process. An unreachable Redis
lets requests through (and logs it): a limiter outage must not take the gateway down with it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60
ALLOWED, OVER_REQUESTS, OVER_TOKENS, TOO_LARGE, OVER_PERIOD = range(5)
PERIOD_TTL_SECONDS = 40 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Limits:
    """What a subject may use; 0 / None: no such limit."""

    rpm: int = 0
    tpm: int = 0
    period_limit: float | None = None  # e.g. a monthly budget in dollars, or a monthly token quota


@dataclass(slots=True)
class CounterState:
    """What one subject's counters hold, as read (and, if admitted, updated) at admission."""

    reason: int
    window: int  # the minute index; -1 when the counters could not be reached (admitted unchecked)
    elapsed: float  # seconds into the current minute
    previous_requests: float = 0
    current_requests: float = 0
    previous_tokens: float = 0
    current_tokens: float = 0
    period_used: float = 0.0  # including this request's reservation when admitted
    reserved: float = 0.0  # what was added to the period's total: settle with (actual - reserved)

    @property
    def admitted(self) -> bool:
        return self.reason == ALLOWED


def sliding(previous: float, current: float, elapsed: float) -> float:
    return previous * (1 - elapsed / WINDOW_SECONDS) + current


def verdict(limits: Limits, tokens: int, reserve: float, state: CounterState) -> int:
    """Whether a request may pass, before counting it. The Lua script below mirrors this."""
    if limits.period_limit is not None and (
        state.period_used >= limits.period_limit or state.period_used + reserve > limits.period_limit
    ):
        return OVER_PERIOD
    if limits.tpm and tokens > limits.tpm:
        return TOO_LARGE
    if limits.rpm and sliding(state.previous_requests, state.current_requests, state.elapsed) + 1 > limits.rpm:
        return OVER_REQUESTS
    if limits.tpm and sliding(state.previous_tokens, state.current_tokens, state.elapsed) + tokens > limits.tpm:
        return OVER_TOKENS
    return ALLOWED


class LocalCounters:
    """Counters in this process: exact for a single gateway process, per-process with several."""

    def __init__(self, clock=time.time) -> None:
        self.clock = clock
        self._windows: dict[str, list[float]] = {}  # subject -> [window, requests, tokens, prev req, prev tok]
        self._totals: dict[tuple[str, str], float] = {}

    def seed(self, period: str, totals: dict[str, float]) -> None:
        """Committed totals read from the database; ignored for subjects this process already tracks."""
        for subject, amount in totals.items():
            self._totals.setdefault((subject, period), amount)

    def _roll(self, subject: str, window: int) -> list[float]:
        state = self._windows.get(subject)
        if state is None or state[0] < window - 1:
            state = self._windows[subject] = [window, 0, 0, 0, 0]
        elif state[0] == window - 1:
            state[:] = [window, 0, 0, state[1], state[2]]
        return state

    async def acquire(self, subject: str, limits: Limits, *, tokens: int, period: str, reserve: float = 0.0
                      ) -> CounterState:
        return self.acquire_now(subject, limits, tokens=tokens, period=period, reserve=reserve)

    def acquire_now(self, subject: str, limits: Limits, *, tokens: int, period: str, reserve: float = 0.0
                    ) -> CounterState:
        """`acquire` without a coroutine (it never waits): for callers on the hot path and benchmarks."""
        now = self.clock()
        window = int(now // WINDOW_SECONDS)
        counts = self._roll(subject, window)
        used = self._totals.get((subject, period), 0.0)
        state = CounterState(ALLOWED, window, now - window * WINDOW_SECONDS, counts[3], counts[1], counts[4],
                             counts[2], used)
        state.reason = verdict(limits, tokens, reserve, state)
        if state.reason != ALLOWED:
            return state
        if limits.rpm:
            counts[1] += 1
            state.current_requests += 1
        if limits.tpm:
            counts[2] += tokens
            state.current_tokens += tokens
        if reserve:
            self._totals[(subject, period)] = state.period_used = used + reserve
            state.reserved = reserve
        return state

    def settle(self, subject: str, window: int, *, tokens_delta: int, period: str, period_delta: float) -> None:
        counts = self._windows.get(subject)
        if tokens_delta and counts is not None:
            if counts[0] == window:
                counts[2] = max(counts[2] + tokens_delta, 0)
            elif counts[0] == window + 1:
                counts[4] = max(counts[4] + tokens_delta, 0)
        if period_delta:
            key = (subject, period)
            self._totals[key] = max(self._totals.get(key, 0.0) + period_delta, 0.0)

    def used(self, subject: str, period: str) -> float:
        return self._totals.get((subject, period), 0.0)

    async def period_total(self, subject: str, period: str) -> float | None:
        """The period's total (reservations included); None when the counters cannot be read."""
        return self.used(subject, period)

    async def aclose(self) -> None:
        return None


_ACQUIRE = """
local rpm, tpm, tokens, limit, window, reserve = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
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
local used = tonumber(redis.call('GET', KEYS[2])) or 0
local reason = 0
if limit >= 0 and (used >= limit or used + reserve > limit) then reason = 4
elseif tpm > 0 and tokens > tpm then reason = 3
elseif rpm > 0 and prev_r * weight + cur_r + 1 > rpm then reason = 1
elseif tpm > 0 and prev_t * weight + cur_t + tokens > tpm then reason = 2
end
if reason == 0 then
  if rpm > 0 then cur_r = redis.call('INCR', rc); redis.call('EXPIRE', rc, window * 2 + 10) end
  if tpm > 0 then cur_t = redis.call('INCRBY', tc, tokens); redis.call('EXPIRE', tc, window * 2 + 10) end
  if reserve > 0 then
    used = tonumber(redis.call('INCRBYFLOAT', KEYS[2], ARGV[6])); redis.call('EXPIRE', KEYS[2], ARGV[7])
  end
end
return {reason, index, tostring(elapsed), prev_r, cur_r, prev_t, cur_t, tostring(used)}
"""

_SETTLE = """
local delta, period_delta = tonumber(ARGV[1]), tonumber(ARGV[2])
if delta ~= 0 and redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCRBY', KEYS[1], delta) end
if period_delta ~= 0 then
  local total = tonumber(redis.call('INCRBYFLOAT', KEYS[2], ARGV[2]))
  if total < 0 then redis.call('SET', KEYS[2], '0') end
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
return 1
"""


def _base(subject: str) -> str:
    return f"gw:rl:{{{subject}}}"  # the braces keep one subject's counters in one Redis Cluster slot


def _total_key(subject: str, period: str) -> str:
    return f"gw:total:{{{subject}}}:{period}"


class RedisCounters:
    """Counters in Redis, shared by every gateway process; one round trip per admission."""

    def __init__(self, url: str, clock=time.time) -> None:
        self._url = url
        self.clock = clock
        self._clients: dict[asyncio.AbstractEventLoop, tuple] = {}
        self._pending: set[asyncio.Task] = set()
        self._last_warning = 0.0

    def _client(self) -> tuple:
        import redis.asyncio as redis_asyncio

        loop = asyncio.get_running_loop()
        entry = self._clients.get(loop)
        if entry is None:
            client = redis_asyncio.Redis.from_url(self._url, socket_timeout=2, socket_connect_timeout=2)
            entry = self._clients[loop] = (client, client.register_script(_ACQUIRE), client.register_script(_SETTLE))
        return entry

    def seed(self, period: str, totals: dict[str, float]) -> None:
        """Called from a DB thread at snapshot build: fills in totals Redis lost (never overwrites)."""
        if not totals:
            return
        import redis

        client = redis.Redis.from_url(self._url, socket_timeout=2, socket_connect_timeout=2)
        try:
            with client.pipeline(transaction=False) as pipe:
                for subject, amount in totals.items():
                    pipe.set(_total_key(subject, period), repr(float(amount)), nx=True, ex=PERIOD_TTL_SECONDS)
                pipe.execute()
        except Exception:
            logger.warning("could not seed limit counters in Redis", exc_info=True)
        finally:
            client.close()

    async def period_total(self, subject: str, period: str) -> float | None:
        """The period's total (reservations included); None when Redis cannot be read."""
        try:
            client, _, _ = self._client()
            value = await client.get(_total_key(subject, period))
        except Exception:
            self._warn("could not read a period total from Redis")
            return None
        return float(value) if value is not None else 0.0

    async def acquire(self, subject: str, limits: Limits, *, tokens: int, period: str, reserve: float = 0.0
                      ) -> CounterState:
        try:
            _, acquire, _ = self._client()
            reply = await acquire(
                keys=[_base(subject), _total_key(subject, period)],
                args=[limits.rpm or 0, limits.tpm or 0, tokens,
                      -1 if limits.period_limit is None else limits.period_limit, WINDOW_SECONDS, repr(float(reserve)),
                      PERIOD_TTL_SECONDS],
            )
        except Exception:
            self._warn("limits not applied: Redis unavailable")
            return CounterState(ALLOWED, -1, 0.0)
        state = CounterState(int(reply[0]), int(reply[1]), float(reply[2]), *(float(v) for v in reply[3:7]),
                             float(reply[7]))
        if state.admitted:
            state.reserved = reserve
        return state

    def settle(self, subject: str, window: int, *, tokens_delta: int, period: str, period_delta: float) -> None:
        if window < 0:
            tokens_delta = 0  # admitted while Redis was down: nothing was counted to correct
        if not tokens_delta and not period_delta:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a sync caller): the next snapshot build re-seeds totals from the database
        task = loop.create_task(self._settle(subject, window, tokens_delta, period, period_delta))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _settle(self, subject: str, window: int, tokens_delta: int, period: str, period_delta: float) -> None:
        try:
            _, _, settle = self._client()
            await settle(keys=[f"{_base(subject)}:t:{window}", _total_key(subject, period)],
                         args=[tokens_delta, repr(float(period_delta)), PERIOD_TTL_SECONDS])
        except Exception:
            self._warn("could not settle a request's counters in Redis")

    async def aclose(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        entry = self._clients.pop(loop, None)
        if entry is not None:
            await entry[0].aclose()

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_warning > 10:
            self._last_warning = now
            logger.warning(message, exc_info=True)
