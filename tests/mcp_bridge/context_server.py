"""A tiny MCP server (stdio) the tests register with the gateway as a context source.

    lookup(query)  a runbook line naming the query, and this process's id (so a test can tell whether two
                   requests were answered by the same, kept-alive, session)
    slow(query)    answers only after SLOW_SECONDS (default 5): past any sensible timeout
"""

from __future__ import annotations

import os
import time

from mcp.server.mcpserver import MCPServer

server = MCPServer("test-runbooks")


@server.tool()
def lookup(query: str) -> str:
    """Find the runbook entry for a question."""
    return f"Runbook entry for '{query}': drain the queue, then restart the worker. (server pid {os.getpid()})"


@server.tool()
def slow(query: str) -> str:
    """Like lookup, after a long pause."""
    time.sleep(float(os.environ.get("SLOW_SECONDS", "5")))
    return f"late answer for '{query}'"


if __name__ == "__main__":
    server.run()
