"""Prometheus metrics for /metrics: requests, tokens, cost, latency, attempts, circuits, usage rows, quota.

Recording stays off the response path: the outcome subscriber only appends a tuple; the tuples are
folded into the prometheus_client metrics in one batch a moment later (`loop.call_later`), after the
response has gone. Label children are cached, so a batch costs about a microsecond per metric and row.

Several processes (scripts/up): when PROMETHEUS_MULTIPROC_DIR is set (scripts/up sets it to a fresh
directory), every process writes its samples there and /metrics on any process answers for all of them
(prometheus_client's multiprocess mode): counters and histograms are summed, per-process gauges (circuit
state, rows pending) carry a `pid` label. Without it each process exposes its own.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from core import lifecycle
from proxy.circuit import CLOSED, HALF_OPEN, OPEN
from proxy.context import Outcome
from proxy.state import circuit_breaker
from usage.state import recorder

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
FOLD_DELAY_SECONDS = 0.2
CIRCUIT_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)

LABELS = ("model", "provider", "role", "status")
REQUESTS = Counter("gateway_requests", "Requests answered, by chosen model, provider, role and outcome", LABELS)
TOKENS = Counter("gateway_tokens", "Tokens, by kind (prompt, completion)", ("model", "provider", "role", "kind"))
COST = Counter("gateway_cost_dollars", "Cost in dollars from the models' prices", ("model", "provider", "role"))
LATENCY = Histogram("gateway_request_latency_seconds", "Whole request latency", ("provider", "model"),
                    buckets=LATENCY_BUCKETS)
TTFT = Histogram("gateway_time_to_first_token_seconds", "Time to the first streamed token", ("provider", "model"),
                 buckets=LATENCY_BUCKETS)
OVERHEAD = Histogram("gateway_overhead_seconds", "Time the gateway itself added (latency minus upstream waits)",
                     buckets=OVERHEAD_BUCKETS)
ATTEMPTS = Counter("gateway_upstream_attempts", "Upstream attempts, by provider and result", ("provider", "result"))
FALLBACKS = Counter("gateway_fallbacks", "Requests answered after more than one attempt, by final provider",
                    ("provider",))
ROWS_WRITTEN = Counter("gateway_usage_rows_written", "Usage rows committed to the database")
ROWS_PENDING = Gauge("gateway_usage_rows_pending", "Usage rows recorded and not yet committed",
                     multiprocess_mode="liveall")
CIRCUIT = Gauge("gateway_circuit_state", "Provider circuit: 0 closed, 1 half-open, 2 open", ("provider",),
                multiprocess_mode="liveall")

Row = tuple[str, str, str, str, int, int, float, float, float | None, float, tuple[tuple[str, bool], ...]]


class MetricsFolder:
    """The outcome subscriber (`observe`) and the batch that updates the metrics (`fold`)."""

    def __init__(self) -> None:
        self._rows: list[Row] = []
        self._scheduled = False
        self._children: dict[tuple, object] = {}
        self._written_seen = 0
        self._providers_seen: set[str] = set()

    def observe(self, outcome: Outcome) -> None:
        ctx, usage = outcome.ctx, outcome.usage
        chosen = ctx.log.chosen
        self._rows.append((
            chosen.model.public_id if chosen else "", chosen.provider.name if chosen else "", ctx.role,
            outcome.status, usage.prompt_tokens, usage.completion_tokens, outcome.cost, outcome.latency_ms,
            outcome.ttft_ms, outcome.overhead_ms,
            tuple((attempt.provider, attempt.status == 200) for attempt in ctx.log.attempts),
        ))
        if not self._scheduled:
            try:
                asyncio.get_running_loop().call_later(FOLD_DELAY_SECONDS, self.fold)
                self._scheduled = True
            except RuntimeError:  # no loop (a sync test client): fold now
                self.fold()

    def _child(self, metric, *labels):
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def fold(self) -> None:
        self._scheduled = False
        rows, self._rows = self._rows, []
        child = self._child
        for model, provider, role, status, prompt, completion, cost, latency, ttft, overhead, attempts in rows:
            child(REQUESTS, model, provider, role, status).inc()
            if prompt:
                child(TOKENS, model, provider, role, "prompt").inc(prompt)
            if completion:
                child(TOKENS, model, provider, role, "completion").inc(completion)
            if cost:
                child(COST, model, provider, role).inc(cost)
            child(LATENCY, provider, model).observe(latency / 1000)
            if ttft is not None:
                child(TTFT, provider, model).observe(ttft / 1000)
            OVERHEAD.observe(overhead / 1000)
            for attempt_provider, succeeded in attempts:
                child(ATTEMPTS, attempt_provider, "ok" if succeeded else "error").inc()
                self._providers_seen.add(attempt_provider)
            if len(attempts) > 1:
                child(FALLBACKS, provider).inc()
        self.refresh_process_gauges()

    def rows_written(self, events) -> None:
        """The usage recorder's listener: counts committed rows as soon as they are committed."""
        self.refresh_process_gauges()

    def refresh_process_gauges(self) -> None:
        written = recorder.written + recorder.replayed
        if written > self._written_seen:
            ROWS_WRITTEN.inc(written - self._written_seen)
            self._written_seen = written
        ROWS_PENDING.set(recorder.pending)
        report = circuit_breaker.report()
        for provider in self._providers_seen | set(report):
            CIRCUIT.labels(provider).set(CIRCUIT_VALUES[report.get(provider, {}).get("state", CLOSED)])


folder = MetricsFolder()
recorder.on_written(folder.rows_written)


def _forget_this_process() -> None:
    """Multiprocess mode: a stopped process's gauges leave the report (its counters stay in the sums)."""
    if MULTIPROCESS:
        from prometheus_client.multiprocess import mark_process_dead

        mark_process_dead(os.getpid())


lifecycle.on_shutdown(_forget_this_process)


class QuotaCollector:
    """Monthly quota remaining per provider, read at scrape time (the database's truth, for any process)."""

    def __init__(self, quotas: dict[str, tuple[int, int]]) -> None:
        self._quotas = quotas

    def collect(self) -> Iterable[GaugeMetricFamily]:
        remaining = GaugeMetricFamily("gateway_quota_remaining_tokens", "Monthly token quota left", labels=["provider"])
        limit = GaugeMetricFamily("gateway_quota_tokens", "Monthly token quota", labels=["provider"])
        for provider, (monthly, used) in sorted(self._quotas.items()):
            remaining.add_metric([provider], max(monthly - used, 0))
            limit.add_metric([provider], monthly)
        yield remaining
        yield limit


def quota_usage() -> dict[str, tuple[int, int]]:
    """(monthly quota, tokens used this month) per quota'd provider. Sync: run it off the event loop."""
    from usage.dashboard.panels import quota

    return {entry["provider"]: (entry["monthly_tokens"], entry["used"]) for entry in quota()["providers"]}


def render(quotas: dict[str, tuple[int, int]]) -> bytes:
    """The exposition text: every process's samples (multiprocess mode) or this one's, plus quota."""
    folder.fold()
    if MULTIPROCESS:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY as registry
    output = generate_latest(registry)
    quota_registry = CollectorRegistry()
    quota_registry.register(QuotaCollector(quotas))
    return output + generate_latest(quota_registry)
