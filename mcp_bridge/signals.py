"""MCP servers changed: tell the snapshot. No logic here beyond the hand-off."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save


def _changed(sender, **kwargs) -> None:
    if kwargs.get("raw"):
        return
    from core.versions import changed_on_commit
    from mcp_bridge.selectors import CONFIG_VERSION_KEY
    from mcp_bridge.state import servers_snapshot

    changed_on_commit(CONFIG_VERSION_KEY, servers_snapshot.invalidate)


def connect() -> None:
    from mcp_bridge.models import McpServer

    post_save.connect(_changed, sender=McpServer, dispatch_uid="mcp-server-save")
    post_delete.connect(_changed, sender=McpServer, dispatch_uid="mcp-server-delete")
