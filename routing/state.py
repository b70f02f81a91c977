"""Process-wide holders: built lazily, no DB or network at import."""

from __future__ import annotations

from django.conf import settings

from routing.circuit import CircuitBreaker
from routing.selectors import build_routing_snapshot, read_config_token
from routing.snapshot import RoutingSnapshot, SnapshotHolder

routing_snapshot: SnapshotHolder[RoutingSnapshot] = SnapshotHolder(
    build_routing_snapshot, read_config_token, settings.ROUTING_REFRESH_SECONDS
)

circuit_breaker = CircuitBreaker(settings.CIRCUIT_FAILURE_THRESHOLD, settings.CIRCUIT_COOLDOWN_SECONDS)
