"""The request path's process-wide state: the circuit breaker over providers, the providers' quotas."""

from __future__ import annotations

from django.conf import settings

from core import lifecycle
from proxy.circuit import CircuitBreaker
from proxy.quota import ProviderQuotas, build_quotas

circuit_breaker = CircuitBreaker(settings.CIRCUIT_FAILURE_THRESHOLD, settings.CIRCUIT_COOLDOWN_SECONDS)
provider_quotas: ProviderQuotas = build_quotas()


async def _settle_quotas() -> None:
    """The last quota settlements reach Redis before the process exits."""
    await provider_quotas.drain()
    await provider_quotas.counters.aclose()


lifecycle.on_shutdown(_settle_quotas, stage=lifecycle.SETTLE)
