"""Saving exchanges in a child process, so their CPU stays off the process that serves requests.

Saving an exchange costs a few hundred microseconds of CPU (its messages' digests and rows, its terms for the
similar-interactions search). In the gateway's writer thread that CPU is taken from the process serving
requests, and while the thread runs Python it holds the GIL the event loop needs: a lower priority for the
thread would only leave the GIL held by a thread that is not running. A child process has neither problem: the
OS runs it on another core when there is one, and at a lower priority (CONTEXT_WRITER_NICE) it yields the core
to the gateway whenever a request arrives.

The gateway's writer thread still owns the batch: it sends the items down a pipe and waits for the child's count
of written items, so the recorder's journal, retries and flush at shutdown are unchanged. When no child can take a
batch (it is still starting, cannot start, dies, or does not answer in time), the thread writes the batch itself;
saving is idempotent by request id, so a batch the child had committed before it died is not stored twice. A new
child is started for a later batch, at most once per RESPAWN_AFTER_SECONDS.

The child reads the same settings from the same environment; it ignores SIGINT and SIGTERM (a terminal's or a
service manager's signal reaches the whole group) and exits when the gateway closes the pipe or dies. It starts
with the first batch, so a gateway that saves no conversation runs none; it takes about 100 MB. It never loads the
tokenizer (about 75 MB more): stored messages then keep no exact token count, and the request path counts them
the first time a conversation comes close to a window, once (context.steps.measure), as it does for messages
saved by a gateway that had not loaded it either.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path

import orjson

from context.journal import EXCHANGES
from context.pending import Exchange, TokenCounts

logger = logging.getLogger(__name__)

RESPAWN_AFTER_SECONDS = 30.0
REPLY_TIMEOUT_SECONDS = 120.0  # a batch waits at most this long on a locked SQLite file (its timeout is 20 s)
STOP_TIMEOUT_SECONDS = 10.0
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class WriterProcess:
    """The parent's side; thread-safe (one batch at a time)."""

    def __init__(self, *, nice: int = 0, reply_timeout: float = REPLY_TIMEOUT_SECONDS,
                 respawn_after: float = RESPAWN_AFTER_SECONDS) -> None:
        self._nice, self._reply_timeout, self._respawn_after = nice, reply_timeout, respawn_after
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._requests: Connection | None = None
        self._replies: Connection | None = None
        self._failed_at: float | None = None
        self._spawned_at = 0.0
        self._ready = False  # the child has set Django up and said so
        self._closed = False
        self.batches = 0  # written by a child
        self.fallbacks = 0  # written in the gateway because no child could take them
        self.spawns = 0

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def report(self) -> dict:
        """For /status: the child's pid (None when none runs), whether it takes batches yet, how they went."""
        if not self._ready and self._process is not None and self._lock.acquire(blocking=False):
            try:  # a child that said it is ready since the last batch: say so too (never waits for a batch)
                if self._process is not None and self._replies is not None and self._replies.poll(0):
                    self._check_ready()
            finally:
                self._lock.release()
        return {"pid": self.pid, "ready": self._ready, "batches": self.batches, "written_in_gateway": self.fallbacks,
                "started": self.spawns}

    def start(self, wait: float = 0.0) -> bool:
        """Start a child if none runs (and none failed lately); wait up to `wait` seconds for it to be ready."""
        deadline = time.monotonic() + wait
        while True:
            with self._lock:
                if not self._closed and self._ensure_child():
                    return True
                if self._closed or self._process is None or time.monotonic() >= deadline:
                    return False
            time.sleep(0.02)

    def write(self, items: Sequence[object]) -> int | None:
        """How many of `items` a child wrote, or None when none could take them (none is ready yet, or it failed):
        the caller writes them."""
        with self._lock:
            if self._closed or not self._ensure_child():
                self.fallbacks += 1
                return None
            try:
                payload = batch_encode(items)
            except Exception:
                logger.exception("context items that cannot be sent to the writer process; writing them here")
                self.fallbacks += 1
                return None
            try:
                assert self._requests is not None and self._replies is not None
                self._requests.send_bytes(payload)
                if not self._replies.poll(self._reply_timeout):
                    raise TimeoutError(f"no answer in {self._reply_timeout:.0f} s")
                written = int(self._replies.recv_bytes())
            except (OSError, EOFError, ValueError) as error:  # TimeoutError is an OSError
                self._failed(f"the context writer process failed ({str(error) or type(error).__name__}); "
                             f"writing {len(items)} items here")
                self.fallbacks += 1
                return None
            self.batches += 1
            return written

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """At shutdown, after the last batch: the child sees the pipe close and exits. Later batches are written
        by the caller."""
        with self._lock:
            self._closed = True
            self._discard(timeout)

    def _ensure_child(self) -> bool:
        """Whether a child is ready for a batch; starts one when none runs. While a new one sets Django up (a
        second or two), batches are written by the caller instead of waiting for it."""
        if self._process is not None:
            if self._process.poll() is not None:
                self._failed(f"the context writer process exited with status {self._process.returncode}")
                return False
            return self._ready or self._check_ready()
        if self._failed_at is not None and time.monotonic() - self._failed_at < self._respawn_after:
            return False
        try:
            self._spawn()
        except OSError:
            logger.exception("cannot start the context writer process; exchanges are saved in the gateway")
            self._failed_at = time.monotonic()
            return False
        return self._check_ready()

    def _check_ready(self) -> bool:
        assert self._replies is not None
        try:
            if not self._replies.poll(0):
                if time.monotonic() - self._spawned_at > self._reply_timeout:
                    raise TimeoutError(f"not ready after {self._reply_timeout:.0f} s")
                return False
            message = self._replies.recv_bytes()
            if message != READY:
                raise ValueError(f"unexpected first message {message[:40]!r}")
        except (OSError, EOFError, ValueError) as error:
            self._failed(f"the context writer process did not start ({str(error) or type(error).__name__})")
            return False
        self._ready = True
        return True

    def _failed(self, message: str) -> None:
        logger.warning("%s", message)
        self._discard()
        self._failed_at = time.monotonic()

    def _spawn(self) -> None:
        requests_read, requests_write = os.pipe()
        replies_read, replies_write = os.pipe()
        child_ends = (requests_read, replies_write)
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, (str(PROJECT_ROOT), environment.get("PYTHONPATH"))))
        environment.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "context.writer_process", *map(str, child_ends), str(self._nice)],
                pass_fds=child_ends, env=environment, stdin=subprocess.DEVNULL,
            )
        except OSError:
            os.close(requests_write)
            os.close(replies_read)
            raise
        finally:
            for fd in child_ends:
                os.close(fd)  # the child's own: a dead child then reads as EOF here
        self._requests = Connection(requests_write, readable=False)
        self._replies = Connection(replies_read, writable=False)
        self._spawned_at, self._ready = time.monotonic(), False
        self.spawns += 1
        logger.info("context writer process %d started (nice %d)", self._process.pid, self._nice)

    def _discard(self, timeout: float = 1.0) -> None:
        for connection in (self._requests, self._replies):
            if connection is not None:
                connection.close()
        self._requests = self._replies = None
        self._ready = False
        process, self._process = self._process, None
        if process is None:
            return
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("the context writer process %d did not exit in %.0f s; killing it", process.pid, timeout)
            process.kill()
            process.wait()


# A batch on the pipe: one line per item, its kind's letter then its JSON. An exchange's JSON is its journal line
# (context.journal), which the request path has encoded already: no second encoding, in the thread that shares
# the GIL with the requests, of a conversation an agent sends whole with every request.
LIVE, REPLAYED, COUNTS = b"X", b"R", b"T"
READY = b"ready"  # the child's first message, once Django is set up


def batch_encode(items: Sequence[object]) -> bytes:
    parts = []
    for item in items:
        if isinstance(item, Exchange):
            line = item.line or EXCHANGES.encode(item)
            parts += (REPLAYED if item.replayed else LIVE, line)
        elif isinstance(item, TokenCounts):
            parts += (COUNTS, orjson.dumps(item.counts, option=orjson.OPT_APPEND_NEWLINE))
        else:
            raise TypeError(f"not a context item: {type(item).__name__}")
    return b"".join(parts)


def batch_decode(payload: bytes) -> list[object]:
    items: list[object] = []
    for line in payload.split(b"\n"):  # JSON escapes every line break inside a value
        if not line:
            continue
        kind, body = line[:1], line[1:]
        if kind == COUNTS:
            items.append(TokenCounts([(message, count) for message, count in orjson.loads(body)]))
        else:
            exchange = EXCHANGES.decode(body)
            exchange.replayed = kind == REPLAYED
            items.append(exchange)
    return items


def serve(requests: Connection, replies: Connection, save: Callable[[Sequence[object]], int]) -> None:
    """The child's loop: a batch in, its written count out, until the gateway closes the pipe."""
    while True:
        try:
            payload = requests.recv_bytes()
        except EOFError:
            return
        written = save(batch_decode(payload))
        try:
            replies.send_bytes(b"%d" % written)
        except OSError:  # the gateway is gone; what was committed stays, the rest is in its journal
            return


def main(argv: Sequence[str]) -> None:
    requests_fd, replies_fd, nice = (int(value) for value in argv)
    for name in (signal.SIGINT, signal.SIGTERM):
        signal.signal(name, signal.SIG_IGN)  # the gateway ends this process by closing the pipe
    import django

    django.setup()
    if nice:  # after the set-up, which a busy machine would otherwise stretch to seconds
        os.nice(nice)
    from django.db import connections

    from context.services import context_items_save

    replies = Connection(replies_fd, readable=False)
    try:
        replies.send_bytes(READY)
        serve(Connection(requests_fd, writable=False), replies, context_items_save)
    except OSError:
        pass  # the gateway is gone before this process was ready
    finally:
        connections.close_all()


if __name__ == "__main__":
    main(sys.argv[1:])
