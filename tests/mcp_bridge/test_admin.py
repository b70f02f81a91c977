"""Registering an MCP server in the admin: validated, and every process told through the config version."""

from __future__ import annotations

import pytest

from core.versions import version_token
from mcp_bridge.models import McpServer
from mcp_bridge.selectors import CONFIG_VERSION_KEY, servers_build
from mcp_bridge.state import servers_snapshot

pytestmark = pytest.mark.django_db(transaction=True)

ADD = "/admin/mcp_bridge/mcpserver/add/"


def form(**fields) -> dict:
    data = {"name": "docs", "enabled": "on", "position": "0", "profiles": "", "transport": "stdio",
            "command": "/usr/bin/python3", "args": '["docs_server.py"]', "env_vars": "", "url": "",
            "auth_token_env": "", "tool_name": "search", "argument_template": '{"query": "{task}", "limit": 3}',
            "timeout_ms": "300"}
    data.update(fields)
    return data


def test_a_bad_template_or_a_missing_command_is_refused_with_the_field_named(admin_client):
    page = admin_client.post(ADD, form(argument_template='{"query": "{tsak}"}', command=""))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Unknown placeholder {tsak}" in text
    assert "A stdio server needs the command that starts it." in text
    assert not McpServer.objects.exists()


def test_saving_a_server_moves_the_config_version_and_the_snapshot_serves_it(admin_client):
    assert admin_client.get(ADD).status_code == 200
    servers_snapshot.get_sync()
    before = version_token(CONFIG_VERSION_KEY)
    assert admin_client.post(ADD, form()).status_code == 302
    assert version_token(CONFIG_VERSION_KEY) != before
    [spec] = servers_snapshot.get_sync().servers  # invalidated in this process at commit: rebuilt
    assert (spec.name, spec.command, spec.args, spec.tool_name, spec.timeout_ms) == (
        "docs", "/usr/bin/python3", ("docs_server.py",), "search", 300)
    assert spec.template == {"query": "{task}", "limit": 3}
    server = McpServer.objects.get()
    assert admin_client.get(f"/admin/mcp_bridge/mcpserver/{server.pk}/change/").status_code == 200
    assert admin_client.get("/admin/mcp_bridge/mcpserver/").status_code == 200

    server.enabled = False
    server.save()
    assert servers_build().servers == ()
    assert servers_snapshot.get_sync().servers == ()
