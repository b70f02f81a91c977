"""The process's MCP singletons: the registered servers' snapshot and their sessions.

Built at import without touching the database or starting anything: a session starts on first use.
"""

from __future__ import annotations

from django.conf import settings

from core.snapshots import SnapshotHolder
from mcp_bridge.client import Sessions
from mcp_bridge.selectors import servers_build, servers_token
from mcp_bridge.specs import McpSnapshot

servers_snapshot: SnapshotHolder[McpSnapshot] = SnapshotHolder(
    servers_build, servers_token, settings.ROUTING_REFRESH_SECONDS, name="mcp"
)

sessions = Sessions()


async def status_report() -> dict:
    """The `mcp` section of /status: the registered servers, their sessions and counters in this process."""
    snapshot = await servers_snapshot.get()
    return sessions.report(snapshot.servers)
