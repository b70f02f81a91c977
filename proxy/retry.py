"""When to try the same candidate again, and how long to wait first.

A transient failure of the only candidate should not reach the client: a connection error or a timeout
before the answer's first byte, or an upstream 408/409/429/500/502/503/504/529, is retried on the same
candidate up to `retries` times with exponential backoff and jitter. The upstream's `retry-after-ms` or
`Retry-After` (seconds or an HTTP date) is honoured when it asks for longer, up to `max_wait`: a wait
longer than that is not taken, and the request moves on to the next candidate instead. Nothing is
retried once the request's deadline would pass, and dispatch never retries after a byte went out.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from providers.base import ProviderError

# Statuses worth asking again; other 4xx blame the request, and the same request would fail the same way.
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
# Failures below HTTP, before the answer began (providers.base.Provider.transport_error's codes).
RETRY_CODES = frozenset({"upstream_connect_timeout", "upstream_timeout", "upstream_unreachable",
                         "upstream_connection_error"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    retries: int = 0  # tries after the first, per candidate
    base_delay: float = 0.25  # seconds before the first retry; doubled for each further one
    max_wait: float = 10.0  # the longest wait taken, whether from backoff or from the upstream's Retry-After
    deadline_seconds: float | None = None  # overall, from the request's arrival to the answer's first byte

    def deadline_at(self, started: float) -> float | None:
        """The perf_counter time past which no try may run, for a request that arrived at `started`."""
        return None if self.deadline_seconds is None else started + self.deadline_seconds

    def wait_before_retry(self, error: ProviderError, retries_done: int, deadline: float | None,
                          now: float | None = None) -> float | None:
        """Seconds to wait before trying the same candidate again, or None: do not retry it."""
        if retries_done >= self.retries or not is_transient(error):
            return None
        asked = requested_wait(error)
        if asked is not None and asked > self.max_wait:
            return None  # the upstream wants a longer pause than we may take: another candidate may answer now
        backoff = min(self.base_delay * (2 ** retries_done), self.max_wait)
        wait = backoff * random.uniform(0.5, 1.0)  # equal jitter: spread, never much shorter than intended
        if asked is not None:
            wait = max(wait, asked)
        now = time.perf_counter() if now is None else now
        if deadline is not None and now + wait >= deadline:
            return None
        return wait


def is_transient(error: ProviderError) -> bool:
    """Whether the same request to the same upstream may succeed if sent again."""
    if error.upstream_status is not None:
        return error.upstream_status in RETRY_STATUSES
    return error.code in RETRY_CODES


def requested_wait(error: ProviderError) -> float | None:
    """The pause the upstream asked for, in seconds: `retry-after-ms` first (OpenAI's SDKs read it first
    too), then `Retry-After` as seconds or an HTTP date. None when it asked nothing readable."""
    millis = _number(getattr(error, "retry_after_ms", None))
    if millis is not None:
        return millis / 1000
    value = error.retry_after
    seconds = _number(value)
    if seconds is not None or not value:
        return seconds
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _number(value: object) -> float | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number >= 0 and number == number and number != float("inf") else None
