"""A whole scaled-out gateway for tests: scripts/cluster.py (what scripts/up runs) with N gateway processes,
a Celery worker and Celery beat, on a fresh PostgreSQL database and a flushed Redis database, serving a
provider that points at a loopback mock upstream.

- `requires_services`: mark a module with it; its tests are skipped unless PostgreSQL and Redis answer on
  127.0.0.1 (CI starts both).
- `cluster` (module scope): the running cluster, a `Cluster`. Override the module-scoped `cluster_env`
  fixture in a test module to add or change environment variables (e.g. GATEWAY_ALLOW_ANONYMOUS=false).
- `start_cluster(...)`: the same as a context manager, for a test that needs its own cluster.

The cluster's database is named gateway_cluster_<pid>_<n> and dropped afterwards; its Redis database
(REDIS_URL, one per xdist worker) is flushed before and after. Defaults every cluster gets: see `base_env`.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from psycopg import sql

from mock_upstream import MockUpstreamThread, start_in_thread
from tests.conftest import REDIS_CLUSTER_DATABASE, redis_database_url

ROOT = Path(__file__).resolve().parent.parent.parent
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432"  # the server; each cluster gets its own database
REDIS_URL = redis_database_url(REDIS_CLUSTER_DATABASE)
MOCK_KEY = "sk-cluster-mock-key-5d1e"
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "cluster-admin-password-8c2f"
START_TIMEOUT = 240.0  # a fresh PostgreSQL database is migrated first, on a busy 2-core CI machine
CONFIG_VERSION_KEY = "routing"  # routing.selectors.CONFIG_VERSION_KEY

_database_numbers = itertools.count(1)


@functools.cache
def services_unavailable() -> str | None:
    """Why the cluster cannot run here, or None when PostgreSQL and Redis both answer."""
    try:
        psycopg.connect(f"{POSTGRES_URL}/postgres", connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc}"
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        return f"Redis is not reachable at {REDIS_URL}: {exc}"
    return None


# Skipped on a machine without the services; under CI (which starts them) a missing service fails instead.
requires_services = pytest.mark.skipif(
    services_unavailable() is not None and not os.environ.get("CI"),
    reason=services_unavailable() or "PostgreSQL and Redis reachable",
)


@dataclass
class Cluster:
    ports: list[int]
    database_url: str
    redis_url: str
    env: dict[str, str]
    process: subprocess.Popen
    log_path: Path
    upstream: MockUpstreamThread
    admin_username: str = ADMIN_USERNAME
    admin_password: str = ADMIN_PASSWORD
    admin_key: str = ""  # a gateway key with admin rights, made at start-up
    exit_code: int | None = field(default=None)

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"authorization": f"Bearer {key or self.admin_key}"}

    def create_key(self, *args: str) -> str:
        """`manage.py create_key ARGS` against the cluster's database; returns the new key."""
        return self.manage("create_key", "--name", f"test-{uuid.uuid4().hex[:6]}", *args).stdout.strip()

    def url(self, index: int = 0) -> str:
        return f"http://127.0.0.1:{self.ports[index]}"

    @property
    def urls(self) -> list[str]:
        return [self.url(index) for index in range(len(self.ports))]

    def sql(self, query: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[tuple]:
        """Run one statement on the cluster's database (committed at once); returns its rows, if any."""
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            cursor = connection.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """`manage.py ARGS` against the cluster's database and Redis."""
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=120, check=check)

    def celery(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "celery", "-A", "gateway_project", *args], cwd=ROOT,
                              env=self.env, capture_output=True, text=True, timeout=120)

    def config_token(self) -> str | None:
        rows = self.sql("SELECT token::text FROM routing_configversion WHERE key = %s", [CONFIG_VERSION_KEY])
        return rows[0][0] if rows else None

    def sync_config(self, timeout: float = 10.0) -> None:
        """Wait until every process serves the routing config now in the database."""
        wanted = self.config_token()
        deadline = time.monotonic() + timeout
        for url in self.urls:
            while httpx.get(f"{url}/status", headers=self.auth(), timeout=5).json()["config_version"] != wanted:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{url} did not pick up config version {wanted}")
                time.sleep(0.05)

    def usage_rows(self, request_id: str, timeout: float = 10.0) -> list[tuple]:
        """The usage rows of one request as [(status, model)], waited for until there is one."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.sql("SELECT status, model FROM usage_usagerecord WHERE request_id = %s", [request_id])
            if rows or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 90.0) -> int:
        """SIGTERM the runner (it forwards the signal to every process) and wait; returns its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.exit_code = self.process.returncode
        return self.exit_code


def consecutive_free_ports(count: int) -> list[int]:
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = probe.getsockname()[1]
        ports = list(range(first, first + count))
        if ports[-1] < 65536 and all(_port_free(port) for port in ports):
            return ports
    raise RuntimeError(f"no {count} consecutive free ports")


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def base_env(database_url: str, data_dir: Path) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DB_PATH", "REDIS_URL")}
    return {
        **inherited,
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "GATEWAY_DATA_DIR": str(data_dir),
        # Gateway keys become required by default; the cluster's tests are loopback clients without one.
        "GATEWAY_ALLOW_ANONYMOUS": "false",  # as in production: every request carries a gateway key
        "ADMIN_USERNAME": ADMIN_USERNAME,
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "CLUSTERMOCK_API_KEY": MOCK_KEY,
        "ROUTING_REFRESH_SECONDS": "0.25",
        "USAGE_FLUSH_INTERVAL": "0.05",
        "GATEWAY_SHUTDOWN_GRACE_SECONDS": "10",
        "CELERY_CONCURRENCY": "1",
    }


def mock_routing(upstream: MockUpstreamThread) -> dict[str, Any]:
    """A routing document adding one provider on the mock upstream and one model, `cluster-model`."""
    return {
        "version": 1,
        "providers": [{"name": "clustermock", "kind": "openai_compatible", "base_url": upstream.base_url,
                       "api_key_env": "CLUSTERMOCK_API_KEY", "tier": "paid", "timeout_seconds": 10}],
        "models": [{"id": "cluster-model", "provider": "clustermock", "upstream": "cluster-upstream-a"}],
        "roles": {},
        "profiles": [],
    }


@contextmanager
def start_cluster(
    tmp_path: Path, upstream: MockUpstreamThread, *, processes: int = 2, extra_env: dict[str, str] | None = None
) -> Iterator[Cluster]:
    name = f"gateway_cluster_{os.getpid()}_{next(_database_numbers)}"
    database_url = f"{POSTGRES_URL}/{name}"
    with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    redis.Redis.from_url(REDIS_URL).flushdb()
    ports = consecutive_free_ports(processes)
    env = {**base_env(database_url, tmp_path / "data"), **(extra_env or {})}
    log_path = tmp_path / "cluster.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "scripts/cluster.py", "--processes", str(processes), "--base-port", str(ports[0])],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    cluster = Cluster(ports, database_url, REDIS_URL, env, process, log_path, upstream)
    try:
        _wait_until_healthy(cluster)
        cluster.admin_key = cluster.create_key("--admin")
        routing_file = tmp_path / "cluster-routing.json"
        routing_file.write_text(json.dumps(mock_routing(upstream)))
        cluster.manage("import_routing", str(routing_file))
        cluster.sync_config()
        yield cluster
    finally:
        cluster.stop()
        with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        redis.Redis.from_url(REDIS_URL).flushdb()


def _wait_until_healthy(cluster: Cluster) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    for url in cluster.urls:
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if cluster.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the cluster did not start ({url}):\n{cluster.logs()}")
            time.sleep(0.2)


@pytest.fixture(scope="module")
def cluster_env() -> dict[str, str]:
    """Extra environment for the module's cluster: override this fixture in a test module."""
    return {}


@pytest.fixture(scope="module")
def cluster_upstream() -> Iterator[MockUpstreamThread]:
    server = start_in_thread(host="127.0.0.1", port=0)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cluster(cluster_env, cluster_upstream, tmp_path_factory) -> Iterator[Cluster]:
    if services_unavailable() and not os.environ.get("CI"):
        pytest.skip(services_unavailable())
    with start_cluster(tmp_path_factory.mktemp("cluster"), cluster_upstream, extra_env=cluster_env) as running:
        yield running
