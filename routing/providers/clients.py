"""One pooled httpx.AsyncClient per provider per event loop, built with explicit timeouts and limits."""

from __future__ import annotations

import asyncio
import logging

import httpx
from django.conf import settings

from routing.snapshot import ProviderSpec

logger = logging.getLogger(__name__)

# A replaced client (its provider's URL or timeout changed) keeps serving in-flight calls this long.
RETIRE_AFTER_SECONDS = 300.0


class ClientPool:
    def __init__(self) -> None:
        self._clients: dict[tuple[int, str], tuple[tuple, httpx.AsyncClient]] = {}

    def get(self, spec: ProviderSpec) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        key = (id(loop), spec.name)
        params = (spec.base_url, spec.timeout_seconds)
        existing = self._clients.get(key)
        if existing is not None:
            if existing[0] == params:
                return existing[1]
            self._retire(existing[1])
        client = self._build(spec)
        self._clients[key] = (params, client)
        return client

    @staticmethod
    def _build(spec: ProviderSpec) -> httpx.AsyncClient:
        timeout = httpx.Timeout(
            spec.timeout_seconds, connect=settings.UPSTREAM_CONNECT_TIMEOUT, pool=spec.timeout_seconds
        )
        limits = httpx.Limits(
            max_connections=settings.UPSTREAM_MAX_CONNECTIONS,
            max_keepalive_connections=settings.UPSTREAM_MAX_KEEPALIVE,
            keepalive_expiry=30.0,
        )
        # No redirects: a provider answering 3xx must not send our key to another host.
        return httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False, trust_env=False)

    @staticmethod
    def _retire(client: httpx.AsyncClient) -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(RETIRE_AFTER_SECONDS, lambda: loop.create_task(client.aclose()))

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        for key in [key for key in self._clients if key[0] == id(loop)]:
            _, client = self._clients.pop(key)
            await client.aclose()


clients = ClientPool()
