"""Start-up and shutdown of a gateway process, whichever ASGI server runs it.

uvicorn speaks the ASGI lifespan protocol; Daphne does not, so there the shutdown runs from a
Twisted "during shutdown" trigger, after Daphne's own "before" trigger has cancelled the open
requests (whose cleanup records their rows): the flush then writes those too. On SIGTERM,
routing.draining first gives open requests the grace period to finish.
"""

from __future__ import annotations

import asyncio
import logging
import sys

logger = logging.getLogger(__name__)
_twisted_hook_installed = False


async def startup() -> None:
    from routing.state import routing_snapshot
    from usage.state import recorder

    recorder.start()  # in the background, it first replays the usage journals of killed processes
    try:
        await routing_snapshot.get()
    except Exception:  # a database not migrated yet must not stop the server from starting
        logger.exception("could not load the routing configuration at start-up")


async def shutdown() -> None:
    """Write every buffered usage row and the last spend to the shared limiter, then close the pools."""
    from apikeys.state import limiter
    from routing.providers.clients import clients
    from usage.state import recorder

    await recorder.aclose()
    await limiter.aclose()
    await clients.aclose()


def install_twisted_shutdown_hook() -> None:
    """Under Daphne (a running Twisted reactor), run `shutdown` when the server stops. Idempotent."""
    global _twisted_hook_installed
    reactor = sys.modules.get("twisted.internet.reactor")
    if _twisted_hook_installed or reactor is None or not getattr(reactor, "running", False):
        return
    from twisted.internet import defer

    _twisted_hook_installed = True
    reactor.addSystemEventTrigger(
        "during", "shutdown", lambda: defer.Deferred.fromFuture(asyncio.ensure_future(shutdown()))
    )
    # Daphne has no start-up event: start the usage recorder (journal replay) on the first request of any kind.
    from usage.state import recorder

    recorder.start()
