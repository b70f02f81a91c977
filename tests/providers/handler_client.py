"""A unit-test seam in place of the pooled upstream client: requests go to a function, not a socket.

The function takes an `httpx.Request` and returns an `httpx.Response` (httpx's models are handy to
build and inspect); the provider sees the same surface as `providers.http.UpstreamClient`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx

from providers.http import UpstreamBodyTooLarge, UpstreamRequest


class HandlerResponse:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.headers = response.headers

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._response.aiter_bytes():
            yield chunk

    async def read(self, limit: int, truncate: bool = False) -> bytes:
        body = b"".join([chunk async for chunk in self.iter_chunks()])
        if len(body) > limit and not truncate:
            raise UpstreamBodyTooLarge(f"response larger than {limit} bytes")
        return body[:limit]

    async def aclose(self) -> None:
        await self._response.aclose()


class HandlerClient:
    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handler = handler

    async def send(self, request: UpstreamRequest) -> HandlerResponse:
        outgoing = httpx.Request(request.method, request.url, content=request.content, headers=dict(request.headers))
        return HandlerResponse(self.handler(outgoing))

    async def aclose(self) -> None:
        pass
