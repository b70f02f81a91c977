"""Circuit breaking: a provider failing repeatedly is skipped for a cool-down, then tried once (half-open)."""

from __future__ import annotations

import asyncio

import pytest

import providers
from core.errors import GatewayError
from proxy.circuit import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from proxy.dispatch import CallLog, complete_with_fallback
from tests.proxy.test_dispatch import ScriptedProvider, candidate


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_then_half_open_then_closes_on_success():
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, cooldown_seconds=30, clock=clock)
    for _ in range(2):
        breaker.record_failure("p")
    assert breaker.state("p") == CLOSED and breaker.allow("p")
    breaker.record_failure("p")
    assert breaker.state("p") == OPEN and not breaker.allow("p")
    assert breaker.report()["p"] == {"state": "open", "consecutive_failures": 3, "retry_in_seconds": 30.0}
    clock.now += 30
    assert breaker.state("p") == HALF_OPEN
    assert breaker.allow("p") and not breaker.allow("p")  # one trial at a time
    breaker.record_success("p")
    assert breaker.state("p") == CLOSED and breaker.report() == {}


def test_a_failed_trial_reopens_for_a_new_cool_down():
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown_seconds=10, clock=clock)
    breaker.record_failure("p")
    clock.now += 10
    assert breaker.allow("p")
    breaker.record_failure("p")
    assert breaker.state("p") == OPEN
    clock.now += 9
    assert not breaker.allow("p")
    clock.now += 1
    assert breaker.allow("p")


def test_success_resets_the_count():
    breaker = CircuitBreaker(threshold=2, cooldown_seconds=10)
    breaker.record_failure("p")
    breaker.record_success("p")
    breaker.record_failure("p")
    assert breaker.state("p") == CLOSED


@pytest.fixture(autouse=True)
def scripted_kind(monkeypatch):
    monkeypatch.setitem(providers.PROVIDER_CLASSES, "scripted", ScriptedProvider)


def run(breaker: CircuitBreaker, *candidates):
    log = CallLog()

    async def go():
        try:
            return await complete_with_fallback(list(candidates), lambda _: {}, log, breaker)
        except GatewayError as error:
            return error
        finally:
            await providers.clients.aclose()

    return asyncio.run(go()), log


def test_fallback_skips_an_open_circuit_and_keeps_it_as_last_resort():
    breaker = CircuitBreaker(threshold=2, cooldown_seconds=60)
    failing, healthy = candidate("fail", "flaky"), candidate("ok", "steady")
    for _ in range(2):
        run(breaker, failing, healthy)
    assert breaker.state("flaky") == OPEN
    _, log = run(breaker, failing, healthy)
    # The open circuit was not even tried: the log says it was skipped, and why.
    assert [(a.provider, a.skipped) for a in log.attempts] == [("flaky", "circuit_open"), ("steady", "")]
    assert log.tries == 1
    result, log = run(breaker, candidate("fail", "flaky"))  # nothing else left: tried anyway
    assert isinstance(result, GatewayError) and log.tries == 1
    assert [(a.provider, a.skipped) for a in log.attempts] == [("flaky", "circuit_open"), ("flaky", "")]


def test_refusals_and_unsupported_features_do_not_trip_the_breaker():
    breaker = CircuitBreaker(threshold=1, cooldown_seconds=60)
    run(breaker, candidate("refused", "strict"))
    run(breaker, candidate("unsupported", "limited"), candidate("ok", "other"))
    assert breaker.state("strict") == CLOSED and breaker.state("limited") == CLOSED
