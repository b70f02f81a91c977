"""MCP servers, edited in the admin; each change reaches every gateway process through the snapshot."""

from __future__ import annotations

from django.contrib import admin
from django.db import models

from mcp_bridge.models import McpServer


@admin.register(McpServer)
class McpServerAdmin(admin.ModelAdmin):
    list_display = ("name", "enabled", "transport", "endpoint", "tool_name", "timeout_ms", "profiles", "position")
    list_editable = ("enabled",)
    list_filter = ("enabled", "transport")
    search_fields = ("name", "tool_name", "command", "url")
    formfield_overrides = {models.URLField: {"assume_scheme": "http"}}  # MCP servers are mostly on loopback
    fieldsets = (
        (None, {"fields": ("name", "enabled", "position", "profiles")}),
        ("How to reach it", {
            "fields": ("transport", "command", "args", "env_vars", "url", "auth_token_env"),
            "description": "stdio: the gateway starts the command once per process and keeps it running. "
                           "Streamable HTTP: the gateway keeps one session with the URL.",
        }),
        ("What to ask it", {"fields": ("tool_name", "argument_template", "timeout_ms")}),
    )

    @admin.display(description="command or URL")
    def endpoint(self, obj: McpServer) -> str:
        if obj.transport == McpServer.Transport.HTTP:
            return obj.url
        return " ".join([obj.command, *[str(arg) for arg in obj.args or ()]])[:120]
