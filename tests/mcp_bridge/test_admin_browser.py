"""An operator registers an MCP server in the admin, in a real browser; the running gateway uses it."""

from __future__ import annotations

import json
import sys

import pytest

from tests.mcp_bridge.helpers import HERE
from tests.mcp_bridge.test_client_gateway import ask, mcp_status, sent_messages

pytestmark = pytest.mark.browser


def test_a_server_added_in_the_admin_answers_the_next_requests(admin_page, gateway, sdk, upstream, screenshot):
    page = admin_page
    page.goto(f"{gateway.url}/admin/mcp_bridge/mcpserver/add/")
    page.fill("input[name=name]", "runbooks-admin")
    page.select_option("select[name=transport]", "stdio")
    page.fill("input[name=command]", sys.executable)
    page.fill("textarea[name=args]", json.dumps([str(HERE / "context_server.py")]))
    page.fill("input[name=tool_name]", "lookup")
    page.fill("textarea[name=argument_template]", '{"query": "{tsak}"}')
    page.fill("input[name=timeout_ms]", "30000")
    page.click("input[name=_save]")
    assert "Unknown placeholder {tsak}" in page.locator(".errorlist").first.inner_text()
    screenshot(page, "template-refused")

    page.fill("textarea[name=argument_template]", '{"query": "{task}"}')
    page.click("input[name=_save]")
    page.wait_for_url(f"{gateway.url}/admin/mcp_bridge/mcpserver/")
    row = page.locator("#result_list tbody tr").first.inner_text()
    assert "runbooks-admin" in row and "lookup" in row
    screenshot(page, "registered")

    mcp_status(gateway, {"runbooks-admin"})
    response = ask(sdk, "How do I restart the billing worker?")
    assert response.headers["x-gateway-mcp"] == "answered=1/1"
    assert "Runbook entry for 'How do I restart the billing worker?'" in sent_messages(upstream)[1]["content"]
