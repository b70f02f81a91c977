"""Shared fixtures: a real loopback upstream, a real Daphne gateway process, and routing rows for them.

The gateway runs as its own process on the test database (SQLite file or PostgreSQL via
DATABASE_URL), exactly as in production: tests reach it over HTTP with the official `openai` SDK.
Tests that use it need committed rows, hence `transactional_db`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from django.db import connection

from mock_upstream import start_in_thread

pytest_plugins = ("tests.browser",)  # chromium, admin_page, screenshot: the admin in a real browser

ROOT = Path(__file__).resolve().parent.parent
MOCK_KEY = "sk-mock-test-key-7f3a9c"  # distinctive, so tests can grep for leaks
FREE_KEY = "sk-free-test-key-2b8e41"
# Redis databases of the tests, each counted down per xdist worker (redis_database_url): up to three workers
# never share one. Celery's broker (research) and the multi-process deployment tests (tests/deploy) have theirs.
REDIS_TEST_DATABASE, REDIS_BROKER_DATABASE, REDIS_CLUSTER_DATABASE = 12, 15, 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def _release_db_thread(django_db_setup, django_db_blocker):
    """In-process recorder tests use the gateway's DB thread: let go of it before the test DB is dropped."""
    yield
    from core.background import close_db_thread_connections

    close_db_thread_connections()
    with django_db_blocker.unblock():
        _end_leftover_sessions()


def _end_leftover_sessions(wait: float = 5.0) -> None:
    """End the other sessions on this run's PostgreSQL test database, so that it can be dropped.

    PostgreSQL refuses to drop a database anyone is connected to, and the run then leaves it behind. At the end
    of a run, one to three idle connections were still open, from threads whose connections Django never
    closes (their last queries: the research runs, the celery-beat schedule, the admin's user lookup). The run
    is over: they are ended here, and their ends awaited."""
    if connection.vendor != "postgresql":
        return
    others = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT pg_terminate_backend(pid) {others}")
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            cursor.execute(f"SELECT count(*) {others}")
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.05)


@pytest.fixture(scope="session", autouse=True)
def _no_embedded_scheduler_in_the_test_process():
    """Importing the ASGI app in-process (the live-feed tests) would start the embedded research scheduler in the
    test process, polling the test database every 30 s for the rest of the run: it could fire a periodic task a
    test set up for its own gateway process, and it logged after the run had closed its output. The tests that
    need the scheduler start a gateway process with it on (tests/research/test_execution.py)."""
    from django.conf import settings

    from research.scheduler import embedded_scheduler

    settings.RESEARCH_EMBEDDED_SCHEDULER = False
    embedded_scheduler.stop(timeout=5)  # started at collection by an import at a module's top, if any
    yield
    embedded_scheduler.stop(timeout=5)


@pytest.fixture(scope="session", autouse=True)
def _context_saved_in_the_test_process():
    """A writer process would open the database its environment names, not this process's test database: the
    tests that flush exchanges in-process write them in the writer thread. Gateway processes started by tests
    keep the default (a writer process), and tests/context/test_writer_process.py covers it."""
    from django.conf import settings

    settings.CONTEXT_WRITER_PROCESS = False
    yield


@pytest.fixture(scope="session", autouse=True)
def _anonymous_local_mode():
    """Most tests exercise routing, not keys: they run in local mode, as the loopback client they are.
    Key tests (tests/apikeys) switch it off and send keys."""
    from django.conf import settings

    settings.GATEWAY_ALLOW_ANONYMOUS = True
    yield


def worker_index() -> int:
    """This pytest-xdist worker's number, 0 without xdist: the tests that share a Redis database (and may empty
    it) get one per worker, so workers running at once never see each other's keys."""
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


def redis_database_url(database: int) -> str:
    """A database of the local Redis, this worker's own: `database` counted down by the worker's number."""
    return f"redis://127.0.0.1:6379/{database - worker_index()}"


@pytest.fixture
def redis_url() -> str:
    """The real Redis of a multi-process deployment (TEST_REDIS_URL); skipped without it, except under CI."""
    import redis

    url = os.environ.get("TEST_REDIS_URL") or redis_database_url(REDIS_TEST_DATABASE)
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.ConnectionError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Redis not reachable at {url} (.ci/run starts it)")
    finally:
        client.close()
    return url


@pytest.fixture(scope="session")
def upstream():
    server = start_in_thread(host="127.0.0.1", port=0)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def second_upstream():
    server = start_in_thread(host="127.0.0.1", port=0)
    yield server
    server.stop()


@dataclass
class GatewayProcess:
    url: str
    process: subprocess.Popen
    log_path: Path
    admin_key: str | None = None  # for /status when the process requires keys

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def status(self) -> dict:
        headers = {"authorization": f"Bearer {self.admin_key}"} if self.admin_key else {}
        return httpx.get(f"{self.url}/status", headers=headers, timeout=5).json()

    def sync_config(self, timeout: float = 5.0) -> None:
        """Wait until the gateway serves the routing config the test just committed."""
        from routing.selectors import read_config_token

        wanted = read_config_token()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.status()["config_version"] == wanted:
                return
            time.sleep(0.02)
        raise AssertionError(f"gateway did not pick up config version {wanted}")

    def drain_usage(self, timeout: float = 5.0) -> None:
        """Wait until every usage row (and conversation exchange) the gateway buffered is committed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status()
            if status["usage_rows_pending"] == 0 and not status.get("context_exchanges_pending"):
                return
            time.sleep(0.02)
        raise AssertionError("gateway still has usage rows pending")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


def database_env() -> dict[str, str]:
    settings_dict = connection.settings_dict
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return {"DB_PATH": str(settings_dict["NAME"])}
    user = settings_dict.get("USER") or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return {"DATABASE_URL": f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"}


def gateway_env(db_env: dict[str, str], **overrides: str) -> dict[str, str]:
    """The environment of a test gateway process: the test DB, loopback provider keys, fast refreshes."""
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DB_PATH")},
        **db_env,
        "MOCKAI_API_KEY": MOCK_KEY,
        "MOCKFREE_API_KEY": FREE_KEY,
        "ROUTING_REFRESH_SECONDS": "0.05",
        "KEYS_REFRESH_SECONDS": "0.05",
        "USAGE_FLUSH_INTERVAL": "0.05",
        "ACTIVE_PROFILE": "personal",
        "GATEWAY_ALLOW_ANONYMOUS": "true",
        "UPSTREAM_CONNECT_TIMEOUT": "1",
        # Tests inject failures on purpose, test after test: the breaker is tested on its own.
        "CIRCUIT_FAILURE_THRESHOLD": "1000000",
        # ...and fallback is tested without retries in between; tests/proxy/test_retries.py turns them on.
        "GATEWAY_RETRIES": "0",
    }
    env.update(overrides)
    return env


def server_command(server: str, port: int, env: dict[str, str]) -> list[str]:
    """Daphne (the default), or uvicorn as scripts/run starts it."""
    if server == "daphne":
        return ["daphne", "-b", "127.0.0.1", "-p", str(port)]
    grace = env.get("GATEWAY_SHUTDOWN_GRACE_SECONDS", "20")
    return ["uvicorn", "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools",
            "--timeout-graceful-shutdown", grace]


def launch_gateway(
    env: dict[str, str], log_path: Path, port: int | None = None, start_timeout: float = 60, server: str = "daphne"
) -> GatewayProcess:
    """Start a gateway process on the test database and wait until /health answers."""
    port = port or free_port()
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", *server_command(server, port, env), "gateway_project.asgi:application"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    log.close()  # the child holds its own descriptor
    gateway = GatewayProcess(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + start_timeout
    while True:
        try:
            if httpx.get(f"{gateway.url}/health", timeout=1).status_code == 200:
                return gateway
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"gateway did not start:\n{gateway.logs()}")
        time.sleep(0.1)


def stop_gateway(gateway: GatewayProcess, timeout: float = 15) -> None:
    gateway.process.send_signal(signal.SIGTERM)
    try:
        gateway.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        gateway.process.kill()
        gateway.process.wait()


@contextmanager
def dedicated_gateway(log_dir: Path, **env: str) -> Iterator[GatewayProcess]:
    """A gateway process of a test's own: `gateway_process`'s set-up with `env` on top; SIGTERM at exit."""
    log_dir.mkdir(parents=True, exist_ok=True)
    gateway = launch_gateway(gateway_env(database_env(), **env), log_dir / f"daphne-{free_port()}.log")
    try:
        yield gateway
    finally:
        if gateway.process.poll() is None:
            stop_gateway(gateway, timeout=30)


@pytest.fixture(scope="session")
def gateway_process(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[GatewayProcess]:
    with django_db_blocker.unblock():
        db_env = database_env()
    gateway = launch_gateway(gateway_env(db_env), tmp_path_factory.mktemp("gateway") / "daphne.log")
    yield gateway
    stop_gateway(gateway)


@dataclass
class Routing:
    """The routing rows a test gets: two providers on loopback upstreams, models and rankings."""

    paid: object
    free: object
    models: dict


def build_routing(upstream, second_upstream) -> Routing:
    from routing.models import Model, ModelFallback, Profile, Provider, RankingEntry, Role, RoleName

    paid = Provider.objects.create(
        name="mockai", base_url=upstream.base_url, api_key_env="MOCKAI_API_KEY", tier="paid", timeout_seconds=2
    )
    free = Provider.objects.create(
        name="mockfree", base_url=second_upstream.base_url, api_key_env="MOCKFREE_API_KEY", tier="free",
        timeout_seconds=2,
    )
    models = {}
    for public_id, provider, upstream_name, price_in, price_out in [
        ("smart-model", paid, "smart-upstream", "3", "15"),
        ("fast-model", paid, "fast-upstream", "0.15", "0.6"),
        ("backup-model", paid, "backup-upstream", "1", "2"),
        ("free-model", free, "free-upstream", "0", "0"),
    ]:
        models[public_id] = Model.objects.create(
            public_id=public_id, provider=provider, upstream_name=upstream_name, context_window=128000,
            input_price_per_mtok=Decimal(price_in), output_price_per_mtok=Decimal(price_out),
            supports_vision=True,
        )
    ModelFallback.objects.create(model=models["smart-model"], fallback=models["backup-model"], position=0)
    for role_name in RoleName.values:
        Role.objects.create(name=role_name)
    roles = {role.name: role for role in Role.objects.all()}
    ranking = {
        "general": ["fast-model", "backup-model"],
        "architect": ["smart-model", "backup-model"],
        "debugging": ["backup-model", "smart-model"],
    }
    for role_name, model_ids in ranking.items():
        for position, model_id in enumerate(model_ids):
            RankingEntry.objects.create(
                role=roles[role_name], model=models[model_id], position=position,
                kind="primary" if position == 0 else "fallback", reason=f"test ranking {position}",
            )
    Profile.objects.create(name="personal", tiers="free,paid,enterprise")
    Profile.objects.create(name="work", tiers="paid,enterprise")
    return Routing(paid=paid, free=free, models=models)


@pytest.fixture
def routing(transactional_db, upstream, second_upstream) -> Routing:
    return build_routing(upstream, second_upstream)


@pytest.fixture
def gateway(routing, gateway_process, upstream, second_upstream) -> Iterator[GatewayProcess]:
    """A gateway serving this test's routing rows, with both upstreams reset to normal behaviour."""
    upstream.reset()
    second_upstream.reset()
    gateway_process.sync_config()
    yield gateway_process
    gateway_process.drain_usage()


@pytest.fixture
def sdk(gateway):
    from openai import OpenAI

    with OpenAI(base_url=gateway.base_url, api_key="unused-by-the-gateway", max_retries=0, timeout=20) as sdk:
        yield sdk


def usage_rows(expected: int, timeout: float = 5.0, **filters) -> list:
    """Wait for `expected` usage rows (matching filters) to be committed, then return them oldest first."""
    from usage.models import UsageRecord

    deadline = time.monotonic() + timeout
    while True:
        rows = list(UsageRecord.objects.filter(**filters).order_by("created_at", "id"))
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.02)
