"""The registered MCP servers as the request path reads them: frozen values in an in-memory snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STDIO, HTTP = "stdio", "http"


@dataclass(frozen=True, slots=True)
class ServerSpec:
    id: int
    name: str
    transport: str  # STDIO | HTTP
    tool_name: str
    template: Any  # a JSON object (mcp_bridge.template)
    timeout_ms: int
    profiles: frozenset[str] = frozenset()  # empty: every profile
    position: int = 0
    command: str = ""
    args: tuple[str, ...] = ()
    env_vars: tuple[str, ...] = ()  # names of the gateway's variables passed on (values read at start)
    url: str = ""
    auth_token_env: str = ""

    @property
    def connection(self) -> tuple:
        """What a running session depends on: when it changes, the session is replaced."""
        return (self.transport, self.command, self.args, self.env_vars, self.url, self.auth_token_env)

    def serves(self, profile: str) -> bool:
        return not self.profiles or profile in self.profiles


@dataclass(frozen=True, slots=True)
class McpSnapshot:
    servers: tuple[ServerSpec, ...] = ()  # enabled ones, in block order

    def for_profile(self, profile: str) -> list[ServerSpec]:
        return [server for server in self.servers if server.serves(profile)]


def split_names(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())
