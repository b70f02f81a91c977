"""Monthly token quotas that route: a free tier is spent first and never overspent.

A provider with a quota (routing: `Provider.monthly_token_quota`, NanoGPT's from NANOGPT_MONTHLY_QUOTA)
is only tried when the rest of this calendar month's (UTC) quota covers the request: its tokens are
estimated (the prompt counted offline with core.tokens, plus `max_tokens` or GATEWAY_QUOTA_DEFAULT_COMPLETION
_TOKENS) and reserved in the same step as the check, so concurrent requests cannot all pass on the same
remainder. A request the quota cannot cover skips the candidate (`quota_exhausted` in the attempt log) and
dispatch goes on down the list: the profile's tier order makes that free, then paid, then enterprise.
After the answer the reservation is settled with the upstream's count (the gateway's estimate when it
reported none); a candidate that failed gives its reservation back.

The counters are core.counters', as the keys' budgets use them: with REDIS_URL one Lua call checks and
reserves atomically across every gateway process, else they live in this process. Each process seeds the
month's total from the usage rows the first time it needs it (never overwriting a live Redis total).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings

from core.background import run_read
from core.counters import Limits, LocalCounters, RedisCounters
from providers.specs import ProviderSpec
from proxy.dispatch import QUOTA_EXHAUSTED
from routing.selection import Candidate
from usage.selectors import tokens_by_provider_since

QUOTA = "quota"  # ctx.extras key of the request's QuotaGate
WARNING_LEVELS = (50, 75, 90, 100)  # percent of the month's quota: /status warns from each
RESEED_SECONDS = 60.0  # with Redis: how often a process re-seeds the month's totals from the usage rows


def subject_of(provider: str) -> str:
    return f"quota:{provider}"


def current_month(now: float) -> str:
    return time.strftime("%Y-%m", time.gmtime(now))


@dataclass(slots=True)
class Reservation:
    provider: str
    month: str
    tokens: int


class ProviderQuotas:
    """Reserve, settle and read providers' monthly token totals over one set of counters."""

    def __init__(self, counters: LocalCounters | RedisCounters) -> None:
        self.counters = counters
        self._seeded: dict[str, asyncio.Future] = {}
        self._seeded_at: dict[str, float] = {}
        # In this process the seed only fills in what it does not count yet: once is enough. Redis may lose its
        # keys (a restart without persistence): seeding again now and then (SET NX) puts the month back.
        self._reseed_seconds = RESEED_SECONDS if isinstance(counters, RedisCounters) else float("inf")

    async def reserve(self, provider: ProviderSpec, tokens: int) -> tuple[Reservation | None, float | None]:
        """Reserve `tokens` of the provider's month; returns the reservation (None: over quota) and the
        month's total afterwards (reservations included; None when the shared counters could not be reached,
        in which case the request goes ahead unchecked, as the keys' limits do)."""
        month = current_month(self.counters.clock())
        await self._seed(month)
        limits = Limits(period_limit=provider.monthly_token_quota)
        state = await self.counters.acquire(subject_of(provider.name), limits, tokens=0, period=month,
                                            reserve=max(tokens, 1))
        if not state.admitted:
            return None, state.period_used
        total = state.period_used if state.window >= 0 else None
        return Reservation(provider.name, month, max(tokens, 1)), total

    def settle(self, reservation: Reservation, actual_tokens: int) -> None:
        """Replace the estimate with what the upstream really used (0: it did not answer)."""
        delta = actual_tokens - reservation.tokens
        if delta:
            self.counters.settle(subject_of(reservation.provider), -1, tokens_delta=0, period=reservation.month,
                                 period_delta=delta)

    async def used(self, provider: str) -> float | None:
        """This month's total for a provider, reservations in flight included; None if unreadable."""
        month = current_month(self.counters.clock())
        await self._seed(month)
        return await self.counters.period_total(subject_of(provider), month)

    async def _seed(self, month: str) -> None:
        """Once per month and process: the month's tokens so far, from the usage rows."""
        seeded = self._seeded.get(month)
        now = time.monotonic()
        if seeded is None or (seeded.done() and now - self._seeded_at.get(month, now) > self._reseed_seconds):
            seeded = self._seeded[month] = asyncio.ensure_future(run_read(self._read_and_seed, month))
            self._seeded_at[month] = now
        try:
            await asyncio.shield(seeded)
        except Exception:
            self._seeded.pop(month, None)  # the next request tries again; this one goes on with what is counted

    def _read_and_seed(self, month: str) -> None:
        start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
        used = tokens_by_provider_since(start)
        self.counters.seed(month, {subject_of(name): float(tokens) for name, tokens in used.items()})

    async def drain(self) -> None:
        pending = getattr(self.counters, "_pending", None)
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


@dataclass(slots=True)
class QuotaGate:
    """One request's reservations (a dispatch CandidateGate): checked before each quota'd candidate,
    settled after the answer."""

    quotas: ProviderQuotas
    estimate: Callable[[], Awaitable[int]]  # the request's tokens, computed once, when a quota'd candidate comes up
    reservations: dict[str, Reservation] = field(default_factory=dict)
    remaining: dict[str, int] = field(default_factory=dict)  # provider -> tokens left after this request's check
    tokens: int | None = None

    async def admit(self, candidate: Candidate) -> str | None:
        provider = candidate.provider
        if not provider.monthly_token_quota or provider.name in self.reservations:
            return None
        if self.tokens is None:
            self.tokens = await self.estimate()
        reservation, total = await self.quotas.reserve(provider, self.tokens)
        if total is not None:
            self.remaining[provider.name] = max(int(provider.monthly_token_quota - total), 0)
        if reservation is None:
            return QUOTA_EXHAUSTED
        self.reservations[provider.name] = reservation
        return None

    def release(self, candidate: Candidate) -> None:
        reservation = self.reservations.pop(candidate.provider.name, None)
        if reservation is not None:
            self.quotas.settle(reservation, 0)
            if reservation.provider in self.remaining:
                self.remaining[reservation.provider] += reservation.tokens

    def settle(self, provider: str | None, actual_tokens: int) -> None:
        """After the response: the answering provider's reservation becomes its real count; any other
        (there should be none left) is given back."""
        for name, reservation in list(self.reservations.items()):
            self.quotas.settle(reservation, actual_tokens if name == provider else 0)
        self.reservations.clear()

    def headers(self, chosen: Candidate | None) -> dict[str, str]:
        """X-Gateway-Quota-Remaining for the answering provider when it has a quota, else for the quota'd
        provider that was passed over."""
        if not self.remaining:
            return {}
        name = chosen.provider.name if chosen is not None and chosen.provider.name in self.remaining \
            else next(iter(self.remaining))
        return {"x-gateway-quota-remaining": str(self.remaining[name]), "x-gateway-quota-provider": name}


def has_quota(candidates: list[Candidate]) -> bool:
    return any(candidate.provider.monthly_token_quota for candidate in candidates)


def warning_level(used: float, quota: int) -> int | None:
    """The highest of WARNING_LEVELS reached, or None below the first."""
    if quota <= 0:
        return None
    percent = used * 100 / quota
    reached = [level for level in WARNING_LEVELS if percent >= level]
    return reached[-1] if reached else None


def build_quotas() -> ProviderQuotas:
    return ProviderQuotas(RedisCounters(settings.REDIS_URL) if settings.REDIS_URL else LocalCounters())
