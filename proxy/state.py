"""The request path's process-wide state: the circuit breaker over providers."""

from __future__ import annotations

from django.conf import settings

from proxy.circuit import CircuitBreaker

circuit_breaker = CircuitBreaker(settings.CIRCUIT_FAILURE_THRESHOLD, settings.CIRCUIT_COOLDOWN_SECONDS)
