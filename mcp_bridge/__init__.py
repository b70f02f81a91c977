"""MCP: external context servers called before routing, and the gateway's own MCP server."""
