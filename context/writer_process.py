"""Saving exchanges in a child process, so their CPU stays off the process that serves requests.

Saving an exchange costs a few hundred microseconds of CPU (its messages' digests and rows, its terms for the
similar-interactions search). In the gateway's writer thread that CPU is taken from the process serving
requests, and while the thread runs Python it holds the GIL the event loop needs: a lower priority for the
thread would only leave the GIL held by a thread that is not running. A child process has neither problem: the
OS runs it on another core when there is one, and at a lower priority (CONTEXT_WRITER_NICE) it yields the core
to the gateway whenever a request arrives.

The gateway's writer thread still owns the batch: it sends the items (pickled) down a pipe and waits for the
child's count of written items, so the recorder's journal, retries and flush at shutdown are unchanged. When no
child can take a batch (it cannot start, dies, or does not answer in time), the thread writes the batch itself;
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
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path

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
        self._closed = False
        self.batches = 0  # written by a child
        self.fallbacks = 0  # written in the gateway because no child could take them
        self.spawns = 0

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def report(self) -> dict:
        """For /status: the child's pid (None when none runs) and how the batches went."""
        return {"pid": self.pid, "batches": self.batches, "written_in_gateway": self.fallbacks,
                "started": self.spawns}

    def write(self, items: Sequence[object]) -> int | None:
        """How many of `items` a child wrote, or None when none could take them: the caller writes them."""
        with self._lock:
            if self._closed or not self._ensure_child():
                self.fallbacks += 1
                return None
            try:
                payload = pickle.dumps(list(items), protocol=pickle.HIGHEST_PROTOCOL)
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
                logger.warning("the context writer process failed (%s); writing %d items here",
                               str(error) or type(error).__name__, len(items))
                self._discard()
                self._failed_at = time.monotonic()
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
        if self._process is not None:
            if self._process.poll() is None:
                return True
            logger.warning("the context writer process exited with status %s", self._process.returncode)
            self._discard()
            self._failed_at = time.monotonic()
        if self._failed_at is not None and time.monotonic() - self._failed_at < self._respawn_after:
            return False
        try:
            self._spawn()
        except OSError:
            logger.exception("cannot start the context writer process; exchanges are saved in the gateway")
            self._failed_at = time.monotonic()
            return False
        return True

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
            for fd in (requests_read, requests_write, replies_read, replies_write):
                os.close(fd)
            raise
        finally:
            for fd in child_ends:
                try:
                    os.close(fd)  # the child's own: a dead child then reads as EOF here
                except OSError:
                    pass
        self._requests = Connection(requests_write, readable=False)
        self._replies = Connection(replies_read, writable=False)
        self.spawns += 1
        logger.info("context writer process %d started (nice %d)", self._process.pid, self._nice)

    def _discard(self, timeout: float = 1.0) -> None:
        for connection in (self._requests, self._replies):
            if connection is not None:
                connection.close()
        self._requests = self._replies = None
        process, self._process = self._process, None
        if process is None:
            return
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("the context writer process %d did not exit in %.0f s; killing it", process.pid, timeout)
            process.kill()
            process.wait()


def serve(requests: Connection, replies: Connection, save: Callable[[Sequence[object]], int]) -> None:
    """The child's loop: a batch in, its written count out, until the gateway closes the pipe."""
    while True:
        try:
            payload = requests.recv_bytes()
        except EOFError:
            return
        written = save(pickle.loads(payload))
        try:
            replies.send_bytes(b"%d" % written)
        except OSError:  # the gateway is gone; what was committed stays, the rest is in its journal
            return


def main(argv: Sequence[str]) -> None:
    requests_fd, replies_fd, nice = (int(value) for value in argv)
    for name in (signal.SIGINT, signal.SIGTERM):
        signal.signal(name, signal.SIG_IGN)  # the gateway ends this process by closing the pipe
    if nice:
        os.nice(nice)
    import django

    django.setup()
    from django.db import connections

    from context.services import context_items_save

    try:
        serve(Connection(requests_fd, writable=False), Connection(replies_fd, readable=False), context_items_save)
    finally:
        connections.close_all()


if __name__ == "__main__":
    main(sys.argv[1:])
