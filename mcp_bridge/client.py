"""Sessions with the registered MCP servers: one per server per process, kept alive and reused.

A session starts on first use, in a task of its own that owns the transport (the stdio subprocess, or the
HTTP connection) for as long as it lives; requests call its tool concurrently, each within its own
deadline. A server that fails — will not start, exits, drops the connection — is restarted on a later
request after a backoff (MCP_RESTART_BACKOFF_SECONDS, doubled per failure up to the maximum); meanwhile
requests go on without it. A slow answer is abandoned at the deadline and the session kept. Nothing here
raises into the request path: `Sessions.ask` returns the text, or None and counts why.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import orjson
from django.conf import settings
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, Implementation, TextContent

from core.version import VERSION
from mcp_bridge.specs import HTTP, McpSnapshot, ServerSpec

logger = logging.getLogger(__name__)

CLIENT_INFO = Implementation(name="llm-gateway", version=VERSION)
CACHE_ENTRIES = 256
ERROR_CHARS = 300  # of a failure's message kept for /status


class Unavailable(Exception):
    """The server has no session right now (starting, or waiting to restart after a failure)."""


@dataclass(slots=True)
class ServerStats:
    """Counters of one server in this process, as /status shows them."""

    calls: int = 0
    ok: int = 0
    cached: int = 0  # answered from the short-lived result cache, no call made
    errors: int = 0  # the call failed, or the tool answered with an error
    timeouts: int = 0
    unavailable: int = 0  # no session: starting, or backing off after a failure
    starts: int = 0
    failures: int = 0  # the session itself failed (could not start, exited, connection lost)
    last_ms: float | None = None  # the latest answered call
    last_error: str = ""
    last_error_at: float | None = None  # unix seconds

    def failed(self, message: str) -> None:
        self.last_error = message[:ERROR_CHARS]
        self.last_error_at = time.time()


def _describe(error: BaseException) -> str:
    if isinstance(error, BaseExceptionGroup) and error.exceptions:
        return _describe(error.exceptions[0])
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _transport(spec: ServerSpec):
    if spec.transport == HTTP:
        import httpx2

        headers = {}
        if spec.auth_token_env and os.environ.get(spec.auth_token_env):
            headers["authorization"] = f"Bearer {os.environ[spec.auth_token_env]}"
        client = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0))
        return client, streamable_http_client(spec.url, http_client=client)
    env = {name: os.environ[name] for name in spec.env_vars if name in os.environ}
    params = StdioServerParameters(command=spec.command, args=list(spec.args), env=env or None)
    return None, stdio_client(params, errlog=sys.stderr)


class ServerConnection:
    """The one session with one server in this process, and its life: idle → starting → ready, and
    backoff after a failure until the next request past the retry time starts it again."""

    def __init__(self, spec: ServerSpec, stats: ServerStats) -> None:
        self.spec = spec
        self.stats = stats
        self.state = "idle"  # idle | starting | ready | stopping | backoff | closed
        self._session: ClientSession | None = None
        self._owner: asyncio.Task | None = None
        self._ready: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._consecutive_failures = 0
        self._retry_at = 0.0
        self._break_reason = ""

    @property
    def retry_in(self) -> float | None:
        return max(self._retry_at - time.monotonic(), 0.0) if self.state == "backoff" else None

    def _ensure_started(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not loop:  # a new event loop (tests): the old task is gone
            self.state, self._session, self._owner = "idle", None, None
        if self.state == "idle" or (self.state == "backoff" and time.monotonic() >= self._retry_at):
            self._loop = loop
            self.state = "starting"
            self._ready, self._stop = asyncio.Event(), asyncio.Event()
            self.stats.starts += 1
            self._owner = loop.create_task(self._own(self._ready, self._stop), name=f"mcp-session-{self.spec.name}")

    async def _own(self, ready: asyncio.Event, stop: asyncio.Event) -> None:
        """Hold the transport and the session open until told to stop or until they fail."""
        failure: BaseException | None = None
        try:
            async with AsyncExitStack() as stack:
                http_client, transport = _transport(self.spec)
                if http_client is not None:
                    await stack.enter_async_context(http_client)
                read, write = await stack.enter_async_context(transport)
                session = await stack.enter_async_context(ClientSession(read, write, client_info=CLIENT_INFO))
                await asyncio.wait_for(session.initialize(), settings.MCP_CONNECT_TIMEOUT_SECONDS)
                if self.state == "starting":
                    self._session, self.state = session, "ready"
                    self._consecutive_failures = 0
                    ready.set()
                await stop.wait()
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # noqa: BLE001 — an ExceptionGroup from the SDK's task groups included
            failure = error
        finally:
            self._session = None
            ready.clear()
        if self.state != "closed":
            self._failed(_describe(failure) if failure is not None else (self._break_reason or "the session ended"))
        self._break_reason = ""

    def _failed(self, message: str) -> None:
        if self.state == "closed":
            return
        self._consecutive_failures += 1
        delay = min(settings.MCP_RESTART_BACKOFF_SECONDS * 2 ** (self._consecutive_failures - 1),
                    settings.MCP_RESTART_BACKOFF_MAX_SECONDS)
        self._retry_at = time.monotonic() + delay
        self.state = "backoff"
        self.stats.failures += 1
        self.stats.failed(message)
        logger.warning("MCP server %r failed (%s); next start in %.1fs", self.spec.name, message, delay)

    def _broken(self, message: str) -> None:
        """The session cannot be used any more: end it; its owner then records the failure and the backoff."""
        if self._stop is not None:
            self._stop.set()
        if self.state == "ready":
            self.state, self._session, self._break_reason = "stopping", None, message

    async def call(self, tool: str, arguments: dict, deadline: float) -> str:
        """The tool's text answer. Raises Unavailable, TimeoutError, or MCPError / another error."""
        self._ensure_started()
        if self._session is None:
            if self.state != "starting" or self._ready is None or self._owner is None:
                retry = self.retry_in
                raise Unavailable(f"restarting in {retry:.1f}s" if retry is not None else self.state)
            waiter = asyncio.ensure_future(self._ready.wait())
            try:
                await asyncio.wait({waiter, self._owner}, timeout=max(deadline - time.monotonic(), 0),
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            if self._session is None:
                raise Unavailable("still starting" if self.state == "starting" else "failed to start")
        session = self._session
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        try:
            result = await asyncio.wait_for(session.call_tool(tool, arguments), remaining)
        except TimeoutError:
            raise
        except MCPError as error:
            if error.code == CONNECTION_CLOSED:
                self._broken(_describe(error))
            raise
        except Exception as error:  # the transport broke under the call
            self._broken(_describe(error))
            raise
        text = "\n".join(part.text for part in result.content if isinstance(part, TextContent)).strip()
        if result.is_error:
            raise MCPError(code=0, message=f"the tool answered with an error: {text[:200]}")
        if not text and result.structured_content is not None:
            text = orjson.dumps(result.structured_content).decode()
        # What the block can show, and one more character so it knows to mark the cut: a huge answer is
        # neither kept in the cache nor carried further.
        return text[: settings.MCP_RESULT_MAX_CHARS + 1]

    async def aclose(self) -> None:
        self.state = "closed"
        if self._stop is not None:
            self._stop.set()
        owner = self._owner
        if owner is not None and not owner.done() and owner.get_loop() is asyncio.get_running_loop():
            try:
                await asyncio.wait_for(asyncio.shield(owner), timeout=6)
            except (TimeoutError, asyncio.CancelledError):
                owner.cancel()


@dataclass(slots=True)
class _Cache:
    entries: OrderedDict = field(default_factory=OrderedDict)

    def get(self, key: tuple) -> str | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        expires, text = entry
        if expires < time.monotonic():
            del self.entries[key]
            return None
        self.entries.move_to_end(key)
        return text

    def put(self, key: tuple, text: str, seconds: float) -> None:
        self.entries[key] = (time.monotonic() + seconds, text)
        self.entries.move_to_end(key)
        while len(self.entries) > CACHE_ENTRIES:
            self.entries.popitem(last=False)


class Sessions:
    """Every server's connection in this process, by server id; stats by server name."""

    def __init__(self) -> None:
        self._connections: dict[int, ServerConnection] = {}
        self._stats: dict[str, ServerStats] = {}
        self._cache = _Cache()
        self._retiring: set[asyncio.Task] = set()
        self._reconciled: McpSnapshot | None = None  # the snapshot the sessions were last matched with

    def reconcile(self, snapshot: McpSnapshot) -> None:
        """Close the sessions of servers the snapshot no longer has (removed or disabled); once per snapshot."""
        if snapshot is not self._reconciled:
            self._reconciled = snapshot
            self.keep_only({server.id for server in snapshot.servers})

    def connection(self, spec: ServerSpec) -> ServerConnection:
        """The server's connection; replaced when how to reach the server changed (tool, template and
        timeout edits apply to the running session)."""
        current = self._connections.get(spec.id)
        if current is not None and (current.spec.name, current.spec.connection) == (spec.name, spec.connection):
            current.spec = spec
            return current
        if current is not None:
            self._retire(current)
        stats = self._stats.setdefault(spec.name, ServerStats())
        current = self._connections[spec.id] = ServerConnection(spec, stats)
        return current

    def keep_only(self, ids: set[int]) -> None:
        """Close the sessions of servers no longer registered (or disabled)."""
        for server_id in [server_id for server_id in self._connections if server_id not in ids]:
            self._retire(self._connections.pop(server_id))

    def _retire(self, connection: ServerConnection) -> None:
        try:
            task = asyncio.get_running_loop().create_task(connection.aclose())
        except RuntimeError:
            return
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    def _cache_key(self, spec: ServerSpec, arguments: dict) -> tuple:
        return (spec.id, spec.name, spec.connection, spec.tool_name,
                orjson.dumps(arguments, option=orjson.OPT_SORT_KEYS))

    def cached(self, spec: ServerSpec, arguments: dict) -> str | None:
        """The server's recent answer to these arguments (counted as a call), or None: no await, no task."""
        if settings.MCP_RESULT_CACHE_SECONDS <= 0:
            return None
        text = self._cache.get(self._cache_key(spec, arguments))
        if text is not None:
            stats = self._stats.setdefault(spec.name, ServerStats())
            stats.calls += 1
            stats.cached += 1
        return text

    async def ask(self, spec: ServerSpec, arguments: dict) -> str | None:
        """The server's answer for these arguments, or None (counted, and logged when it is a failure)."""
        text = self.cached(spec, arguments)
        return text if text is not None else await self.call(spec, arguments)

    async def call(self, spec: ServerSpec, arguments: dict) -> str | None:
        """Ask the server itself (no cache read); the answer is cached. None on any failure (counted)."""
        stats = self._stats.setdefault(spec.name, ServerStats())
        stats.calls += 1
        ttl = settings.MCP_RESULT_CACHE_SECONDS
        started = time.monotonic()
        try:
            text = await self.connection(spec).call(spec.tool_name, arguments, started + spec.timeout_ms / 1000)
        except Unavailable as error:
            stats.unavailable += 1
            logger.debug("MCP server %r skipped: %s", spec.name, error)
            return None
        except TimeoutError:
            stats.timeouts += 1
            stats.failed(f"no answer within {spec.timeout_ms} ms")
            logger.warning("MCP server %r: no answer within %d ms; request served without it", spec.name,
                           spec.timeout_ms)
            return None
        except Exception as error:
            stats.errors += 1
            stats.failed(_describe(error))
            logger.warning("MCP server %r: %s; request served without it", spec.name, _describe(error))
            return None
        stats.ok += 1
        stats.last_ms = round((time.monotonic() - started) * 1000, 3)  # of answered calls only
        if ttl > 0:
            self._cache.put(self._cache_key(spec, arguments), text, ttl)
        return text

    def report(self, registered: Sequence[ServerSpec] = ()) -> dict:
        """Every registered server (and any other with a session in this process): state and counters."""
        specs = {spec.id: spec for spec in registered}
        for server_id, connection in self._connections.items():
            specs.setdefault(server_id, connection.spec)
        servers = []
        for spec in sorted(specs.values(), key=lambda spec: (spec.position, spec.name)):
            connection = self._connections.get(spec.id)
            stats = self._stats.get(spec.name) or ServerStats()
            retry = connection.retry_in if connection is not None else None
            servers.append({
                "name": spec.name,
                "transport": spec.transport,
                "tool": spec.tool_name,
                "state": connection.state if connection is not None else "idle",
                "retry_in_seconds": None if retry is None else round(retry, 3),
                "calls": stats.calls, "ok": stats.ok, "cached": stats.cached, "errors": stats.errors,
                "timeouts": stats.timeouts, "unavailable": stats.unavailable, "starts": stats.starts,
                "failures": stats.failures, "last_ms": stats.last_ms, "last_error": stats.last_error or None,
                "last_error_at": stats.last_error_at,
            })
        failed = sum(server["errors"] + server["timeouts"] + server["unavailable"] for server in servers)
        return {"servers": servers, "failed_calls": failed}

    async def aclose(self) -> None:
        connections = list(self._connections.values())
        self._connections.clear()
        await asyncio.gather(*(connection.aclose() for connection in connections), *self._retiring,
                             return_exceptions=True)
