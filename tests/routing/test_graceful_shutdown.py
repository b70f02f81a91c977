"""SIGTERM drains a gateway process: no new connections, open streams finish (within the grace period),
usage rows are flushed, the process exits. Under Daphne (routing.draining) and uvicorn (its own
--timeout-graceful-shutdown, as scripts/run and scripts/up pass it).

Each test runs its own gateway process (it is shut down by the test) with a long usage flush interval,
so a row in the database proves the shutdown flush wrote it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import FREE_KEY, MOCK_KEY, ROOT, database_env, free_port, usage_rows

SERVERS = ["daphne", "uvicorn"]
STREAM = {"model": "fast-model", "stream": True, "messages": [{"role": "user", "content": "count slowly"}]}


@dataclass
class DrainingGateway:
    url: str
    port: int
    process: subprocess.Popen
    log_path: Path
    grace: float

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def refuses_connections(self, within: float) -> bool:
        """True once a new TCP connection is refused (before `within` seconds pass)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            except ConnectionRefusedError:
                return True
            time.sleep(0.02)
        return False


@pytest.fixture
def start_gateway(routing, upstream, django_db_blocker, tmp_path) -> Iterator[Callable[..., DrainingGateway]]:
    """Start a gateway (Daphne or uvicorn) on the test database with the given shutdown grace period."""
    started: list[DrainingGateway] = []
    with django_db_blocker.unblock():
        db_env = database_env()

    def start(grace: int, server: str) -> DrainingGateway:
        port = free_port()
        log_path = tmp_path / f"{server}-{port}.log"
        env = {
            **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DB_PATH")},
            **db_env,
            "MOCKAI_API_KEY": MOCK_KEY,
            "MOCKFREE_API_KEY": FREE_KEY,
            "ACTIVE_PROFILE": "personal",
            "GATEWAY_ALLOW_ANONYMOUS": "true",
            "GATEWAY_SHUTDOWN_GRACE_SECONDS": str(grace),
            "USAGE_FLUSH_INTERVAL": "60",  # only the shutdown flush writes rows within a test
            "USAGE_JOURNAL_DIR": str(tmp_path / "journal"),
        }
        if server == "daphne":
            command = ["daphne", "-b", "127.0.0.1", "-p", str(port)]
        else:  # as scripts/run starts it
            command = ["uvicorn", "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http",
                       "httptools", "--timeout-graceful-shutdown", str(grace)]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", *command, "gateway_project.asgi:application"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        gateway = DrainingGateway(f"http://127.0.0.1:{port}", port, process, log_path, grace)
        started.append(gateway)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{gateway.url}/health", timeout=1).status_code == 200:
                    return gateway
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gateway did not start:\n{gateway.logs()}")
            time.sleep(0.1)

    upstream.reset()
    yield start
    upstream.reset()
    for gateway in started:
        if gateway.process.poll() is None:
            gateway.process.kill()
            gateway.process.wait(10)


def open_stream(client: httpx.Client, gateway: DrainingGateway):
    return client.stream("POST", f"{gateway.url}/v1/chat/completions", json=STREAM)


def events_of(lines: Iterator[str]) -> list[str]:
    """The SSE data lines read until the stream ends or the connection is cut."""
    events = []
    try:
        for line in lines:
            if line.startswith("data: "):
                events.append(line)
    except httpx.HTTPError:
        pass
    return events


@pytest.mark.timeout(180)
@pytest.mark.parametrize("server", SERVERS)
def test_sigterm_lets_an_open_stream_finish_then_exits(start_gateway, upstream, server):
    upstream.configure(models={"fast-upstream": {"chunks": 8, "chunk_delay_ms": 250}})  # about 2 s
    gateway = start_gateway(15, server)
    keep_alive = httpx.Client(base_url=gateway.url, timeout=5)
    assert keep_alive.get("/health").status_code == 200  # leaves an idle keep-alive connection open
    with httpx.Client(timeout=30) as client, open_stream(client, gateway) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        signaled = time.monotonic()
        gateway.process.send_signal(signal.SIGTERM)
        assert gateway.refuses_connections(within=3), gateway.logs()
        time.sleep(0.2)
        # The idle connection was closed too: its client's next request needs a new one, which is refused.
        with pytest.raises(httpx.ConnectError):
            keep_alive.get("/health")
        events = [first, *events_of(lines)]
        finished = time.monotonic()
    keep_alive.close()
    assert events[-1] == "data: [DONE]" and len(events) >= 8
    assert finished - signaled > 1  # the stream really was still running when the signal came
    gateway.process.wait(timeout=gateway.grace + 10)
    exited = time.monotonic()
    # uvicorn re-raises the signal once it has shut down cleanly: "killed by SIGTERM" is its clean exit.
    assert gateway.process.returncode in (0, -signal.SIGTERM), gateway.logs()
    assert exited - signaled < gateway.grace, f"exit took {exited - signaled:.1f} s:\n{gateway.logs()}"
    [row] = usage_rows(1, timeout=1)
    assert row.status == "ok" and row.stream and row.completion_tokens > 0


@pytest.mark.timeout(180)
@pytest.mark.parametrize("server", SERVERS)
def test_a_stream_longer_than_the_grace_period_is_cut_at_the_bound(start_gateway, upstream, server):
    upstream.configure(models={"fast-upstream": {"chunks": 40, "chunk_delay_ms": 250}})  # about 10 s
    gateway = start_gateway(2, server)
    with httpx.Client(timeout=30) as client, open_stream(client, gateway) as response:
        lines = response.iter_lines()
        next(line for line in lines if line.startswith("data: "))
        signaled = time.monotonic()
        gateway.process.send_signal(signal.SIGTERM)
        events = events_of(lines)
        cut = time.monotonic()
    assert "data: [DONE]" not in events
    assert gateway.grace - 0.5 < cut - signaled < gateway.grace + 5, f"cut after {cut - signaled:.1f} s"
    gateway.process.wait(timeout=gateway.grace + 15)
    assert time.monotonic() - signaled < gateway.grace + 8, gateway.logs()
    [row] = usage_rows(1, timeout=1)
    assert row.status != "ok" and row.stream
