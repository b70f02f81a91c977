"""Ways to run a MockUpstream: in a background thread (tests, benchmarks) or in the foreground
until a signal (the management command and `python -m mock_upstream`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import signal
import threading
from collections.abc import Callable
from typing import Any

from .server import MockUpstream

CALL_TIMEOUT = 10.0


class MockUpstreamThread:
    """A MockUpstream on its own event loop in a daemon thread. Every method is thread-safe: calls
    are handed to the server's loop, so tests never race the request handlers."""

    def __init__(self, server: MockUpstream, loop: asyncio.AbstractEventLoop, thread: threading.Thread):
        self.server = server
        self._loop = loop
        self._thread = thread

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if not self._thread.is_alive():
            raise RuntimeError("mock upstream is stopped")
        result: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                result.set_result(fn(*args))
            except BaseException as exc:  # handed back to the calling thread
                result.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return result.result(timeout=CALL_TIMEOUT)

    def configure(self, default: dict[str, Any] | None = None, models: dict[str, Any] | None = None) -> dict:
        """Merge knobs, like `POST /_mock/config`; raises ValueError on a bad knob (nothing applied)."""
        return self._call(self.server.configure, default, models)

    def reset(self) -> None:
        self._call(self.server.reset)

    def stats(self) -> dict[str, Any]:
        return self._call(self.server.stats)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server and its thread; idempotent."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)

    def __enter__(self) -> MockUpstreamThread:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_in_thread(
    host: str = "127.0.0.1", port: int = 0, *, models: dict[str, Any] | None = None, **knobs: Any
) -> MockUpstreamThread:
    """Start a MockUpstream in a daemon thread and return once it listens (port 0 = any free port).

    Raises ValueError for bad knobs and OSError when the address is taken, in the calling thread.
    """
    server = MockUpstream(host, port, models=models, **knobs)
    ready = threading.Event()
    box: dict[str, Any] = {}

    def main() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start())
        except BaseException as exc:
            box["error"] = exc
            ready.set()
            loop.close()
            return
        box["loop"] = loop
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(server.stop())
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    thread = threading.Thread(target=main, name=f"mock-upstream-{host}:{port}", daemon=True)
    thread.start()
    ready.wait()
    if "error" in box:
        thread.join()
        raise box["error"]
    return MockUpstreamThread(server, box["loop"], thread)


def run_forever(
    host: str = "127.0.0.1",
    port: int = 9100,
    *,
    on_ready: Callable[[MockUpstream], None] | None = None,
    models: dict[str, Any] | None = None,
    **knobs: Any,
) -> None:
    """Serve in the foreground until SIGINT/SIGTERM; `on_ready(server)` runs once it listens."""
    server = MockUpstream(host, port, models=models, **knobs)

    async def main() -> None:
        await server.start()
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stopped.set)
        if on_ready is not None:
            on_ready(server)
        try:
            await stopped.wait()
        finally:
            await server.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
