"""The gateway's upstream HTTP client: one pooled aiohttp session per provider per event loop.

aiohttp rather than httpx: measured in bench/clients.py on one core against the loopback upstream,
httpx spent 650-850 µs of CPU per request (2.9 ms at concurrency 50, where its pool degrades) and
aiohttp 90-210 µs. Providers use only this module's small surface, so the choice stays in one place:
`UpstreamClient.send(UpstreamRequest)` returns once the response headers are in, `UpstreamResponse` reads the body
bounded or chunk by chunk, and transport failures are `UpstreamTransportError`s.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import aiohttp


class UpstreamTransportError(Exception):
    """The exchange failed below HTTP: no answer, a dropped connection, a timeout."""


class UpstreamConnectTimeout(UpstreamTransportError):
    pass


class UpstreamReadTimeout(UpstreamTransportError):
    """Nothing arrived for the provider's read timeout (before the headers or between chunks)."""


class UpstreamConnectError(UpstreamTransportError):
    pass


class UpstreamDisconnected(UpstreamTransportError):
    """The provider closed the connection or cut the body short."""


class UpstreamBodyTooLarge(UpstreamTransportError):
    pass


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    method: str
    url: str
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ClientSettings:
    connect_timeout: float
    read_timeout: float
    max_connections: int
    keepalive_seconds: float = 30.0


class UpstreamResponse:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers  # case-insensitive

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive (decompressed). Raises UpstreamTransportError."""
        with _mapped_errors():
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def read(self, limit: int, truncate: bool = False) -> bytes:
        """The whole body, at most `limit` bytes: beyond it, UpstreamBodyTooLarge (or cut, if `truncate`)."""
        parts: list[bytes] = []
        size = 0
        async for chunk in self.iter_chunks():
            size += len(chunk)
            if size > limit:
                if truncate:
                    parts.append(chunk[: len(chunk) - (size - limit)])
                    break
                raise UpstreamBodyTooLarge(f"response larger than {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)

    async def aclose(self) -> None:
        """Return the connection to the pool if the body was read, else drop it. Idempotent."""
        if self._response.content.is_eof():
            self._response.release()
        else:
            self._response.close()


class UpstreamClient:
    def __init__(self, settings: ClientSettings) -> None:
        self.settings = settings
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=settings.max_connections, keepalive_timeout=settings.keepalive_seconds
            ),
            timeout=aiohttp.ClientTimeout(
                total=None,
                connect=settings.read_timeout,  # waiting for a pooled connection, connecting included
                sock_connect=settings.connect_timeout,
                sock_read=settings.read_timeout,  # the longest silence, before the headers or between chunks
            ),
            cookie_jar=aiohttp.DummyCookieJar(),  # never carry one caller's cookies to the next
            auto_decompress=True,
            trust_env=False,
        )

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        """Returns once the status and headers arrived. Raises UpstreamTransportError."""
        with _mapped_errors():
            response = await self._session.request(
                request.method, request.url, data=request.content, headers=request.headers,
                allow_redirects=False,  # a redirect must never carry a provider key to another host
            )
        return UpstreamResponse(response)

    async def aclose(self) -> None:
        await self._session.close()


class _mapped_errors:
    """aiohttp's and asyncio's exceptions → the gateway's transport errors (cancellation passes through)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None or isinstance(exc, (asyncio.CancelledError, UpstreamTransportError)):
            return False
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            raise UpstreamConnectTimeout(str(exc) or "connect timeout") from exc
        if isinstance(exc, TimeoutError):  # includes aiohttp's socket read timeout
            raise UpstreamReadTimeout(str(exc) or "read timeout") from exc
        if isinstance(exc, aiohttp.ClientConnectorError):
            raise UpstreamConnectError(str(exc)) from exc
        if isinstance(exc, (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError,
                            ConnectionError)):
            raise UpstreamDisconnected(type(exc).__name__) from exc
        if isinstance(exc, aiohttp.ClientError):
            raise UpstreamDisconnected(type(exc).__name__) from exc
        return False
