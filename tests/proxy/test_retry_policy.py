"""The retry policy on its own: which failures are retried, how long it waits, when it gives up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from providers.base import ProviderError
from proxy.retry import RetryPolicy, is_transient, requested_wait

POLICY = RetryPolicy(retries=2, base_delay=0.2, max_wait=5.0)


def failure(status: int | None = None, code: str | None = None, **extra) -> ProviderError:
    return ProviderError("failed", retryable=True, upstream_status=status, code=code, **extra)


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_transient_statuses_are_retried(status):
    assert is_transient(failure(status))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422, 501])
def test_other_statuses_are_not(status):
    assert not is_transient(failure(status))


@pytest.mark.parametrize(("code", "retried"), [
    ("upstream_unreachable", True), ("upstream_timeout", True), ("upstream_connect_timeout", True),
    ("upstream_connection_error", True), ("upstream_bad_response", False), ("unsupported_feature", False),
    ("upstream_empty_stream", False),
])
def test_failures_below_http_are_retried_when_nothing_was_answered(code, retried):
    assert is_transient(failure(code=code)) is retried


def test_backoff_doubles_with_jitter_and_stops_after_the_allowed_retries():
    first = [POLICY.wait_before_retry(failure(500), 0, None) for _ in range(200)]
    second = [POLICY.wait_before_retry(failure(500), 1, None) for _ in range(200)]
    assert 0.1 <= min(first) and max(first) <= 0.2 and len(set(first)) > 100
    assert 0.2 <= min(second) and max(second) <= 0.4
    assert POLICY.wait_before_retry(failure(500), 2, None) is None


def test_the_upstream_pause_is_honoured_up_to_the_cap():
    assert POLICY.wait_before_retry(failure(429, retry_after="2"), 0, None) == 2.0
    assert POLICY.wait_before_retry(failure(429, retry_after="1", retry_after_ms="1500"), 0, None) == 1.5
    assert POLICY.wait_before_retry(failure(429, retry_after="30"), 0, None) is None  # moves on instead


def test_retry_after_as_an_http_date():
    later = datetime.now(UTC) + timedelta(seconds=3)
    assert 1.5 < requested_wait(failure(429, retry_after=format_datetime(later, usegmt=True))) <= 3.0
    assert requested_wait(failure(429, retry_after="soon")) is None
    assert requested_wait(failure(429, retry_after_ms="-5")) is None


def test_no_retry_whose_wait_would_end_past_the_deadline():
    assert POLICY.wait_before_retry(failure(429, retry_after="2"), 0, deadline=11.0, now=10.0) is None
    assert POLICY.wait_before_retry(failure(429, retry_after="2"), 0, deadline=13.0, now=10.0) == 2.0


def test_no_retries_configured():
    assert RetryPolicy(retries=0).wait_before_retry(failure(500), 0, None) is None
