"""SIGTERM drains a gateway process: no new connections, open streams finish (within the grace period),
usage rows are flushed, the process exits. Under Daphne (core.draining) and uvicorn (its own
--timeout-graceful-shutdown, as scripts/run and scripts/up pass it).

Each test runs its own gateway process (it is shut down by the test) with a long usage flush interval,
so a row in the database proves the shutdown flush wrote it.
"""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.conftest import GatewayProcess, database_env, free_port, gateway_env, launch_gateway, usage_rows

SERVERS = ["daphne", "uvicorn"]
STREAM = {"model": "fast-model", "stream": True, "messages": [{"role": "user", "content": "count slowly"}]}


def refuses_connections(gateway: GatewayProcess, within: float) -> bool:
    """True once a new TCP connection is refused (before `within` seconds pass)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", gateway.port), timeout=0.5).close()
        except ConnectionRefusedError:
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def start_gateway(routing, upstream, django_db_blocker, tmp_path) -> Iterator[Callable[..., GatewayProcess]]:
    """Start a gateway (Daphne or uvicorn) on the test database with the given shutdown grace period."""
    started: list[GatewayProcess] = []
    with django_db_blocker.unblock():
        db_env = database_env()

    def start(grace: int, server: str) -> GatewayProcess:
        env = gateway_env(
            db_env,
            GATEWAY_SHUTDOWN_GRACE_SECONDS=str(grace),
            USAGE_FLUSH_INTERVAL="60",  # only the shutdown flush writes rows within a test
            USAGE_JOURNAL_DIR=str(tmp_path / "journal"),
        )
        gateway = launch_gateway(env, tmp_path / f"{server}-{free_port()}.log", server=server)
        started.append(gateway)
        return gateway

    upstream.reset()
    yield start
    upstream.reset()
    for gateway in started:
        if gateway.process.poll() is None:
            gateway.process.kill()
            gateway.process.wait(10)


def open_stream(client: httpx.Client, gateway: GatewayProcess):
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
    grace = 15
    gateway = start_gateway(grace, server)
    keep_alive = httpx.Client(base_url=gateway.url, timeout=5)
    assert keep_alive.get("/health").status_code == 200  # leaves an idle keep-alive connection open
    with httpx.Client(timeout=30) as client, open_stream(client, gateway) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        signaled = time.monotonic()
        gateway.process.send_signal(signal.SIGTERM)
        assert refuses_connections(gateway, within=3), gateway.logs()
        time.sleep(0.2)
        # The idle connection was closed too: its client's next request needs a new one, which is refused.
        with pytest.raises(httpx.ConnectError):
            keep_alive.get("/health")
        events = [first, *events_of(lines)]
        finished = time.monotonic()
    keep_alive.close()
    assert events[-1] == "data: [DONE]" and len(events) >= 8
    assert finished - signaled > 1  # the stream really was still running when the signal came
    gateway.process.wait(timeout=grace + 10)
    exited = time.monotonic()
    # uvicorn re-raises the signal once it has shut down cleanly: "killed by SIGTERM" is its clean exit.
    assert gateway.process.returncode in (0, -signal.SIGTERM), gateway.logs()
    assert exited - signaled < grace, f"exit took {exited - signaled:.1f} s:\n{gateway.logs()}"
    [row] = usage_rows(1, timeout=1)
    assert row.status == "ok" and row.stream and row.completion_tokens > 0


@pytest.mark.timeout(180)
@pytest.mark.parametrize("server", SERVERS)
def test_a_stream_longer_than_the_grace_period_is_cut_at_the_bound(start_gateway, upstream, server):
    upstream.configure(models={"fast-upstream": {"chunks": 40, "chunk_delay_ms": 250}})  # about 10 s
    grace = 2
    gateway = start_gateway(grace, server)
    with httpx.Client(timeout=30) as client, open_stream(client, gateway) as response:
        lines = response.iter_lines()
        next(line for line in lines if line.startswith("data: "))
        signaled = time.monotonic()
        gateway.process.send_signal(signal.SIGTERM)
        events = events_of(lines)
        cut = time.monotonic()
    assert "data: [DONE]" not in events
    assert grace - 0.5 < cut - signaled < grace + 5, f"cut after {cut - signaled:.1f} s"
    gateway.process.wait(timeout=grace + 15)
    assert time.monotonic() - signaled < grace + 8, gateway.logs()
    [row] = usage_rows(1, timeout=1)
    assert row.status != "ok" and row.stream
