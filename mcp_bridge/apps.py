from django.apps import AppConfig


class McpBridgeConfig(AppConfig):
    name = "mcp_bridge"
    verbose_name = "MCP bridge"

    def ready(self) -> None:
        from core import lifecycle
        from mcp_bridge import signals

        signals.connect()
        lifecycle.on_shutdown(_close_sessions, stage=lifecycle.CLOSE)


async def _close_sessions() -> None:
    from mcp_bridge.state import sessions

    await sessions.aclose()
