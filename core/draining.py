"""Graceful shutdown under Daphne: SIGTERM drains the process instead of stopping it at once.

Twisted's own SIGTERM handler stops the reactor immediately, and Daphne's "before shutdown" trigger then
cancels every open request, streams included. Once the reactor runs (the gateway's ASGI front installs
this on its first request: before that nothing is open), SIGTERM instead:

1. closes the listening sockets, so new connections are refused and a proxy moves on to another process;
2. closes idle keep-alive connections, and busy ones once their response is complete, so a proxy that
   pools connections to this process opens new ones, is refused, and moves on;
3. waits until the requests being served (GatewayASGI counts them) are done, at most
   GATEWAY_SHUTDOWN_GRACE_SECONDS, then closes the last connections once their bytes are written;
4. stops the reactor: Daphne cancels whatever is still open (a stream past the grace period is cut, and
   its usage row records it), core.lifecycle's shutdown trigger flushes the usage rows, and the
   process exits.

A second SIGTERM goes straight to step 4. uvicorn drains by itself (--timeout-graceful-shutdown) and
flushes in the ASGI lifespan shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.05
# Closing connections get this long to send their last bytes before the reactor stops anyway.
CLOSE_SECONDS = 2.0

_installed = False


def install_under_daphne(active_requests: Callable[[], int]) -> None:
    """Under Daphne (a running Twisted reactor, on the main thread), make SIGTERM drain. Idempotent, cheap."""
    global _installed
    if _installed:
        return
    reactor = sys.modules.get("twisted.internet.reactor")
    if reactor is None or not getattr(reactor, "running", False):
        return
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread, where Daphne runs the reactor
    _installed = True
    drain = DaphneDrain(reactor, active_requests, settings.GATEWAY_SHUTDOWN_GRACE_SECONDS)
    signal.signal(signal.SIGTERM, drain.on_sigterm)


class DaphneDrain:
    def __init__(self, reactor: Any, active_requests: Callable[[], int], grace_seconds: float) -> None:
        self._reactor = reactor
        self._active = active_requests
        self._grace = grace_seconds
        self._task: asyncio.Future | None = None

    def on_sigterm(self, signum: int, frame: object) -> None:
        # A signal handler only hands work to the loop: callFromThread is what Twisted's own handler uses.
        self._reactor.callFromThread(self._begin)

    def _begin(self) -> None:
        if self._task is not None:
            logger.warning("second SIGTERM: stopping now, cutting %d open requests", self._active())
            self._stop()
            return
        self._task = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._grace
        for port in _listening_ports(self._reactor):
            port.stopListening()
        logger.info("SIGTERM: no longer accepting connections; waiting up to %.1f s for %d open requests",
                    self._grace, self._active())
        while self._active() > 0 and loop.time() < deadline:
            _close_when_idle(self._reactor)
            await asyncio.sleep(POLL_SECONDS)
        if self._active() > 0:
            logger.warning("shutdown grace period (%.1f s) over: cutting %d open requests", self._grace, self._active())
        else:
            logger.info("all requests done: closing idle connections and shutting down")
            await self._close_connections(loop.time() + CLOSE_SECONDS)
        self._stop()

    async def _close_connections(self, deadline: float) -> None:
        """Close every accepted connection after its buffered bytes are written; wait until they are gone."""
        loop = asyncio.get_running_loop()
        for connection in _connections(self._reactor):
            connection.loseConnection()
        while _connections(self._reactor) and loop.time() < deadline:
            await asyncio.sleep(POLL_SECONDS / 5)

    def _stop(self) -> None:
        from twisted.internet.error import ReactorNotRunning

        try:
            self._reactor.stop()
        except ReactorNotRunning:
            pass


def _listening_ports(reactor: Any) -> list:
    from twisted.internet import tcp

    return [reader for reader in reactor.getReaders() if isinstance(reader, tcp.Port)]


def _close_when_idle(reactor: Any) -> None:
    for connection in _connections(reactor):
        channel = getattr(connection.protocol, "_channel", connection.protocol)  # Twisted's HTTPChannel
        if getattr(channel, "requests", None):
            channel.persistent = False  # Twisted closes it once the response in progress is complete
        else:
            connection.loseConnection()


def _connections(reactor: Any) -> set:
    from twisted.internet import tcp

    return {
        selectable for selectable in (*reactor.getReaders(), *reactor.getWriters())
        if isinstance(selectable, tcp.Server)
    }
