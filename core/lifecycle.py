"""Start-up and shutdown of a gateway process, whichever ASGI server runs it, through registered hooks.

Apps register what they need in their `AppConfig.ready()` (the usage recorder, the limiter, the upstream
pools); this module knows none of them. uvicorn speaks the ASGI lifespan protocol; Daphne does not, so
there start-up runs on the first request and shutdown from a Twisted "during shutdown" trigger, after
Daphne's own "before" trigger has cancelled the open requests (whose cleanup records their rows): the
flush then writes those too. On SIGTERM, core.draining first gives open requests the grace period.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

Hook = Callable[[], Awaitable[None] | None]

# Shutdown runs in stage order: rows are flushed before the limiter's last spend, pools close last.
FLUSH, SETTLE, CLOSE = 10, 20, 30

_startup: list[Hook] = []
_shutdown: list[tuple[int, int, Hook]] = []
_twisted_hook_installed = False
_started = False


def on_startup(hook: Hook) -> None:
    """Run `hook` when the process starts serving (idempotent by identity)."""
    if hook not in _startup:
        _startup.append(hook)


def on_shutdown(hook: Hook, *, stage: int = CLOSE) -> None:
    """Run `hook` when the process stops, after every hook of an earlier stage (idempotent by identity)."""
    if all(existing is not hook for _, _, existing in _shutdown):
        _shutdown.append((stage, len(_shutdown), hook))


async def _run(hook: Hook, what: str) -> None:
    try:
        result = hook()
        if inspect.isawaitable(result):
            await result
    except Exception:  # one failing hook must not keep the others (the usage flush) from running
        logger.exception("%s hook %r failed", what, hook)


async def startup() -> None:
    global _started
    _started = True
    for hook in list(_startup):
        await _run(hook, "start-up")


async def shutdown() -> None:
    """Run every shutdown hook, stage by stage: flush usage rows, settle the limiter, close the pools."""
    for _, _, hook in sorted(_shutdown, key=lambda entry: entry[:2]):
        await _run(hook, "shutdown")


def install_twisted_shutdown_hook() -> None:
    """Under Daphne (a running Twisted reactor), run `startup` now and `shutdown` when it stops. Idempotent."""
    global _twisted_hook_installed
    reactor = sys.modules.get("twisted.internet.reactor")
    if _twisted_hook_installed or reactor is None or not getattr(reactor, "running", False):
        return
    from twisted.internet import defer

    _twisted_hook_installed = True
    reactor.addSystemEventTrigger(
        "during", "shutdown", lambda: defer.Deferred.fromFuture(asyncio.ensure_future(shutdown()))
    )
    if not _started:
        asyncio.ensure_future(startup())
