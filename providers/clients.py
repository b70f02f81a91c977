"""One pooled upstream client per provider per event loop, built with explicit timeouts and limits."""

from __future__ import annotations

import asyncio

from django.conf import settings

from providers.http import ClientSettings, UpstreamClient
from providers.specs import ProviderSpec

# A replaced client (its provider's timeout changed) keeps serving in-flight calls this long.
RETIRE_AFTER_SECONDS = 300.0


class ClientPool:
    def __init__(self) -> None:
        self._clients: dict[tuple[int, str], UpstreamClient] = {}

    def get(self, spec: ProviderSpec) -> UpstreamClient:
        loop = asyncio.get_running_loop()
        key = (id(loop), spec.name)
        wanted = ClientSettings(
            connect_timeout=settings.UPSTREAM_CONNECT_TIMEOUT,
            read_timeout=spec.timeout_seconds,
            max_connections=settings.UPSTREAM_MAX_CONNECTIONS,
        )
        existing = self._clients.get(key)
        if existing is not None:
            if existing.settings == wanted:
                return existing
            loop.call_later(RETIRE_AFTER_SECONDS, lambda: loop.create_task(existing.aclose()))
        client = self._clients[key] = UpstreamClient(wanted)
        return client

    async def aclose(self) -> None:
        loop_id = id(asyncio.get_running_loop())
        for key in [key for key in self._clients if key[0] == loop_id]:
            await self._clients.pop(key).aclose()


clients = ClientPool()
