"""Fallback decisions, with in-process fake providers (what they answer is all that matters here)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

import providers
from core.errors import GatewayError
from providers.base import Completion, Provider, ProviderError
from providers.specs import ModelSpec, ProviderSpec
from proxy.dispatch import CallLog, complete_with_fallback
from routing.selection import Candidate


class ScriptedProvider(Provider):
    """Answers or fails as its model's upstream name says: ok, retryable, refused, unsupported, limited."""

    kind = "scripted"

    async def complete(self, body, model):
        outcome = model.upstream_name
        if outcome == "ok":
            return Completion(body=b"{}", usage=None)
        if outcome == "unsupported":
            raise ProviderError(f"n>1 is not supported by provider '{self.spec.name}'", retryable=True, status=400,
                                code="unsupported_feature")
        if outcome == "limited":
            raise ProviderError("slow down", retryable=True, status=429, upstream_status=429, retry_after="7")
        if outcome == "refused":
            raise ProviderError("bad request", retryable=False, status=400, upstream_status=400)
        raise ProviderError("boom", retryable=True, status=502, upstream_status=500)

    async def stream(self, body, model):
        raise NotImplementedError


@pytest.fixture(autouse=True)
def scripted_kind(monkeypatch):
    monkeypatch.setitem(providers.PROVIDER_CLASSES, "scripted", ScriptedProvider)


def candidate(outcome: str, name: str | None = None) -> Candidate:
    spec = ProviderSpec(name=name or f"p-{outcome}", kind="scripted", base_url="http://unused", tier="paid",
                        timeout_seconds=1, enabled=True, key_env="")
    model = ModelSpec(public_id=f"m-{outcome}", provider=spec.name, upstream_name=outcome)
    return Candidate(model, spec, "primary")


def run(*outcomes: str) -> tuple[Completion | GatewayError, CallLog]:
    log = CallLog()

    async def go():
        try:
            candidates = [candidate(o, f"p{i}") for i, o in enumerate(outcomes)]
            return await complete_with_fallback(candidates, lambda _: {}, log)
        except GatewayError as error:
            return error
        finally:
            await providers.clients.aclose()  # this loop's pooled sessions

    return asyncio.run(go()), log


def test_retryable_failures_fall_through_to_the_next_candidate():
    result, log = run("fail", "limited", "ok")
    assert isinstance(result, Completion)
    assert [a.status for a in log.attempts] == [500, 429, 200] and log.chosen.provider.name == "p2"


def test_non_retryable_refusal_stops_at_once_with_its_status():
    result, log = run("refused", "ok")
    assert isinstance(result, GatewayError) and result.status == 400 and len(log.attempts) == 1


def test_all_failing_is_502_naming_each_attempt():
    result, _ = run("fail", "fail")
    assert result.status == 502 and "m-fail via p0" in result.message and "m-fail via p1" in result.message


def test_a_lone_rate_limited_candidate_passes_the_429_and_retry_after_on():
    result, _ = run("limited")
    assert result.status == 429 and result.headers["retry-after"] == "7"


def test_no_candidate_supporting_the_feature_is_a_400_naming_it():
    result, log = run("unsupported", "unsupported")
    assert result.status == 400 and result.code == "unsupported_feature"
    assert "n>1" in result.message and len(log.attempts) == 2


def test_unsupported_then_a_capable_candidate_succeeds():
    result, log = run("unsupported", "ok")
    assert isinstance(result, Completion) and log.chosen.model.upstream_name == "ok"


def test_attempt_log_is_serialisable():
    _, log = run("fail", "ok")
    assert [dataclasses.asdict(a)["provider"] for a in log.attempts] == ["p0", "p1"]
    assert all(set(a.as_dict()) == {"provider", "model", "status", "error", "ms", "try"} for a in log.attempts)


def quota_candidate(outcome: str, quota: int) -> Candidate:
    spec = ProviderSpec(name="free", kind="scripted", base_url="http://unused", tier="free", timeout_seconds=1,
                        enabled=True, key_env="", monthly_token_quota=quota)
    return Candidate(ModelSpec(public_id=f"free-{outcome}", provider="free", upstream_name=outcome), spec, "free_tier")


def test_retries_and_the_quota_gate_together(transactional_db):
    from core.counters import LocalCounters
    from proxy.quota import ProviderQuotas, QuotaGate, current_month, subject_of
    from proxy.retry import RetryPolicy

    quotas = ProviderQuotas(LocalCounters())
    month = current_month(quotas.counters.clock())

    async def estimate() -> int:
        return 600

    async def go(*candidates: Candidate) -> tuple[Completion | GatewayError, CallLog, QuotaGate]:
        log, gate = CallLog(), QuotaGate(quotas, estimate)
        try:
            return await complete_with_fallback(list(candidates), lambda _: {}, log, gate=gate,
                                                policy=RetryPolicy(retries=1, base_delay=0.001)), log, gate
        except GatewayError as error:
            return error, log, gate
        finally:
            await providers.clients.aclose()

    # The free candidate fails twice (a retry): its reservation is given back, the paid one answers.
    result, log, gate = asyncio.run(go(quota_candidate("fail", 1000), candidate("ok", "paid")))
    assert isinstance(result, Completion) and log.chosen.provider.name == "paid"
    assert [(a.provider, a.try_number, a.status) for a in log.attempts] == [("free", 1, 500), ("free", 2, 500),
                                                                            ("paid", 1, 200)]
    assert quotas.counters.used(subject_of("free"), month) == 0 and not gate.reservations

    # It answers: the reservation stays until the outcome settles it with the real count.
    result, log, gate = asyncio.run(go(quota_candidate("ok", 1000), candidate("ok", "paid")))
    assert log.chosen.provider.name == "free" and quotas.counters.used(subject_of("free"), month) == 600
    gate.settle("free", 450)
    assert quotas.counters.used(subject_of("free"), month) == 450

    # 450 + 600 > 1000: skipped, without a try; and when nothing else may serve, a 429 that says why.
    result, log, _ = asyncio.run(go(quota_candidate("ok", 1000), candidate("ok", "paid")))
    assert [(a.provider, a.skipped) for a in log.attempts] == [("free", "quota_exhausted"), ("paid", "")]
    result, log, _ = asyncio.run(go(quota_candidate("ok", 1000)))
    assert isinstance(result, GatewayError) and result.status == 429 and result.code == "quota_exhausted"
    assert log.tries == 0
