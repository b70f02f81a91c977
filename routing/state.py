"""The process's routing snapshot holder: built lazily, no DB or network at import."""

from __future__ import annotations

from django.conf import settings

from core.snapshots import SnapshotHolder
from routing.selectors import build_routing_snapshot, read_config_token
from routing.snapshot import RoutingSnapshot

routing_snapshot: SnapshotHolder[RoutingSnapshot] = SnapshotHolder(
    build_routing_snapshot, read_config_token, settings.ROUTING_REFRESH_SECONDS
)
