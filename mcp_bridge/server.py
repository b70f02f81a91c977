"""The gateway's own MCP server: its stored conversations as tools any MCP client can call.

    save_interaction     append a user turn and its answer to a conversation (searchable at once)
    read_history         a conversation's newest messages
    search_interactions  past interactions most relevant to a query (the context app's full-text search)

Every tool sees one caller's scope (`CallerScope`). Over streamable HTTP that is the gateway key sent as
`Authorization: Bearer <key>` (checked by apikeys, as on /v1): the key's own conversations, and only its
profile when the key is bound to one. Over stdio the operator who starts the process chooses it
(`manage.py mcp_server --key / --all-keys / --profile`). The store, search and write are the context app's;
this module only adapts them to MCP.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from apikeys.access import Access, AuthenticationFailed
from apikeys.gate import authenticate_request
from context.state import policy_snapshot
from core.background import run_read, run_write
from core.version import VERSION
from mcp_bridge.selectors import Scope, conversation_history, interactions_search
from mcp_bridge.services import interaction_save
from routing.state import routing_snapshot

SERVER_NAME = "llm-gateway-context"
ACCESS_STATE = "gateway_access"  # where the HTTP front leaves the caller's Access in the ASGI scope's state
MAX_TEXT_CHARS = 200_000
MAX_ID_CHARS = 200
INSTRUCTIONS = (
    "The conversations stored by an LLM gateway. Use search_interactions to find how similar questions were "
    "answered before, read_history to read one conversation, and save_interaction to keep an exchange."
)


@dataclass(frozen=True, slots=True)
class CallerScope:
    """What one caller may read, and under which key prefix it writes."""

    read_prefix: str | None  # None: every key's conversations
    write_prefix: str
    profile: str | None = None  # fixed profile (a key bound to one, or the operator's choice); None: any

    @classmethod
    def for_access(cls, access: Access) -> CallerScope:
        key = access.key
        return cls(access.prefix, access.prefix, (key.profile or None) if key is not None else None)


ScopeResolver = Callable[[Context], Awaitable[CallerScope]]


def fixed_scope(scope: CallerScope) -> ScopeResolver:
    """stdio: one scope for the whole process, chosen by the operator."""

    async def resolve(ctx: Context) -> CallerScope:
        return scope

    return resolve


async def http_scope(ctx: Context) -> CallerScope:
    """HTTP: the key the front authenticated for this very request (`GatewayKeyAuth`)."""
    request = ctx.request_context.request
    state = getattr(request, "scope", {}).get("state") or {}
    access = state.get(ACCESS_STATE) if isinstance(state, Mapping) else None
    if not isinstance(access, Access):  # the front always sets it; never serve a request it did not see
        raise ToolError("Not authenticated: send your gateway key as 'Authorization: Bearer <key>'.")
    return CallerScope.for_access(access)


def _profile(scope: CallerScope, asked: str) -> str | None:
    asked = asked.strip()
    if scope.profile is not None and asked and asked != scope.profile:
        raise ToolError(f"This caller may only use the profile '{scope.profile}', not '{asked}'.")
    return scope.profile or asked or None


def _text(name: str, value: str, limit: int, *, required: bool = True) -> str:
    if required and not value.strip():
        raise ToolError(f"'{name}' is empty.")
    if len(value) > limit:
        raise ToolError(f"'{name}' is {len(value)} characters long; at most {limit}.")
    return value


def build_server(resolve_scope: ScopeResolver) -> MCPServer:
    server = MCPServer(SERVER_NAME, version=VERSION, instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool()
    async def save_interaction(
        conversation_id: str, user: str, assistant: str, ctx: Context, profile: str = ""
    ) -> dict[str, Any]:
        """Append one exchange (the user's message and the assistant's answer) to a stored conversation,
        created when new. `profile`: the routing profile it belongs to (default: the gateway's active one)."""
        scope = await resolve_scope(ctx)
        conversation_id = _text("conversation_id", conversation_id, MAX_ID_CHARS).strip()
        _text("user", user, MAX_TEXT_CHARS)
        _text("assistant", assistant, MAX_TEXT_CHARS, required=False)
        routing = await routing_snapshot.get()
        chosen = _profile(scope, profile) or routing.default_profile
        if routing.profiles and chosen not in routing.profiles:
            raise ToolError(f"Unknown profile '{chosen}'; the profiles are {', '.join(sorted(routing.profiles))}.")
        if not (await policy_snapshot.get()).for_profile(chosen).store:
            raise ToolError(f"The profile '{chosen}' stores nothing (its context policy has 'store' off).")
        exchange_id = await run_write(
            interaction_save, api_key_prefix=scope.write_prefix, profile=chosen, conversation_id=conversation_id,
            user=user, assistant=assistant,
        )
        return {"saved": True, "conversation_id": conversation_id, "profile": chosen, "exchange_id": exchange_id}

    @server.tool()
    async def read_history(conversation_id: str, ctx: Context, limit: int = 50, profile: str = "") -> dict[str, Any]:
        """The newest messages of a stored conversation, oldest first (at most `limit`, 1–500)."""
        scope = await resolve_scope(ctx)
        if not 1 <= limit <= 500:
            raise ToolError("'limit' is between 1 and 500.")
        conversation_id = _text("conversation_id", conversation_id, MAX_ID_CHARS).strip()
        found = await run_read(
            conversation_history, scope=Scope(scope.read_prefix, _profile(scope, profile)),
            conversation_id=conversation_id, limit=limit,
        )
        if found is None:
            raise ToolError(f"No conversation '{conversation_id}' is stored for this caller.")
        return found

    @server.tool()
    async def search_interactions(
        query: str, ctx: Context, top_k: int = 5, min_score: float = 0.0, profile: str = ""
    ) -> dict[str, Any]:
        """Past interactions (a user's request and the answer) most relevant to `query`, best first:
        full-text relevance; `score` (0–1) is the weighted share of the query's distinctive words found."""
        scope = await resolve_scope(ctx)
        if not 1 <= top_k <= 50:
            raise ToolError("'top_k' is between 1 and 50.")
        if not 0.0 <= min_score <= 1.0:
            raise ToolError("'min_score' is between 0 and 1.")
        query = _text("query", query, MAX_TEXT_CHARS)
        hits = await run_read(
            interactions_search, scope=Scope(scope.read_prefix, _profile(scope, profile)), query=query,
            top_k=top_k, min_score=min_score,
        )
        return {"query": query, "interactions": hits}

    return server


class GatewayKeyAuth:
    """ASGI front of the HTTP server: every request carries a gateway key (or comes from a loopback client
    in local mode, GATEWAY_ALLOW_ANONYMOUS), checked exactly as on /v1; else a 401 in OpenAI's error shape."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        client = scope.get("client")
        try:
            access = await authenticate_request(headers, client[0] if client else None)
        except AuthenticationFailed as error:
            await _reply(send, error.status, orjson.dumps(error.body()),
                         [(b"www-authenticate", b'Bearer realm="llm-gateway"')])
            return
        scope.setdefault("state", {})[ACCESS_STATE] = access
        await self.app(scope, receive, send)


async def _reply(send: Callable, status: int, body: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *extra]})
    await send({"type": "http.response.body", "body": body})


def http_app(server: MCPServer, *, host: str, path: str = "/mcp") -> Callable:
    """The streamable-HTTP ASGI app behind the gateway-key check."""
    return GatewayKeyAuth(server.streamable_http_app(streamable_http_path=path, host=host))
