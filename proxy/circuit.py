"""Circuit breaking per provider: stop sending traffic to a provider that keeps failing, for a while.

After CIRCUIT_FAILURE_THRESHOLD consecutive retryable failures (network, timeout, 429, 5xx) a provider's
circuit opens: fallback skips it for CIRCUIT_COOLDOWN_SECONDS. Then it is half-open: one request may
try it; success closes the circuit, failure opens it again. Per process and in memory: each gateway
process learns on its own, which needs no coordination and errs on the side of trying.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(slots=True)
class _Circuit:
    failures: int = 0
    opened_at: float | None = None
    trial_in_flight: bool = False


class CircuitBreaker:
    def __init__(self, threshold: int, cooldown_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._circuits: dict[str, _Circuit] = {}

    def state(self, provider: str) -> str:
        circuit = self._circuits.get(provider)
        if circuit is None or circuit.opened_at is None:
            return CLOSED
        return OPEN if self._clock() - circuit.opened_at < self.cooldown_seconds else HALF_OPEN

    def allow(self, provider: str) -> bool:
        """May a request go to this provider now? In half-open state, only one at a time."""
        state = self.state(provider)
        if state == CLOSED:
            return True
        if state == OPEN:
            return False
        circuit = self._circuits[provider]
        if circuit.trial_in_flight:
            return False
        circuit.trial_in_flight = True
        return True

    def record_success(self, provider: str) -> None:
        self._circuits.pop(provider, None)

    def record_failure(self, provider: str) -> None:
        circuit = self._circuits.setdefault(provider, _Circuit())
        circuit.failures += 1
        circuit.trial_in_flight = False
        if circuit.opened_at is not None or circuit.failures >= self.threshold:
            circuit.opened_at = self._clock()  # (re)open: a failed trial starts a new cool-down

    def report(self) -> dict[str, dict]:
        """For /status: every provider whose circuit is not simply closed."""
        now = self._clock()
        report = {}
        for name, circuit in self._circuits.items():
            entry: dict = {"state": self.state(name), "consecutive_failures": circuit.failures}
            if circuit.opened_at is not None:
                entry["retry_in_seconds"] = round(max(self.cooldown_seconds - (now - circuit.opened_at), 0.0), 1)
            report[name] = entry
        return report
