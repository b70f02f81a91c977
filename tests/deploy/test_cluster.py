"""Scale-out: two gateway processes, a Celery worker and beat on one PostgreSQL database and one Redis.

Started the way production starts them (scripts/cluster.py, behind scripts/up). The last test stops the
cluster, so it runs last.
"""

from __future__ import annotations

import re
import socket
import time
import uuid

import httpx
import pytest

from tests.deploy.conftest import CONFIG_VERSION_KEY, requires_services

pytestmark = [requires_services, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def cluster_env() -> dict[str, str]:
    return {"ADMIN_LOGIN_ATTEMPTS": "3"}


def chat(url: str, content: str) -> httpx.Response:
    body = {"model": "cluster-model", "messages": [{"role": "user", "content": content}]}
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=30)


def test_every_process_answers_health(cluster):
    for url in cluster.urls:
        response = httpx.get(f"{url}/health", timeout=5)
        assert response.status_code == 200 and response.json()["database"] == "ok"


def test_a_chat_through_each_process_is_recorded_in_the_shared_database(cluster):
    for index, url in enumerate(cluster.urls):
        response = chat(url, f"hello from process {index}")
        assert response.status_code == 200, response.text
        assert response.json()["choices"][0]["message"]["content"] == f"mock reply to: hello from process {index}"
        assert cluster.usage_rows(response.headers["x-request-id"]) == [("ok", "cluster-model")]


def test_a_config_edit_reaches_the_other_process_within_a_second(cluster):
    """The edit is committed next to process 0 (as its admin would); process 1 uses it within a second."""
    assert chat(cluster.url(1), "before").json()["model"] == "cluster-upstream-a"
    with_edit = """
        WITH edit AS (UPDATE routing_model SET upstream_name = 'cluster-upstream-b'
                      WHERE public_id = 'cluster-model' RETURNING id)
        UPDATE routing_configversion SET token = %s, changed_at = now()
        WHERE key = %s AND EXISTS (SELECT 1 FROM edit)
    """
    cluster.sql(with_edit, [str(uuid.uuid4()), CONFIG_VERSION_KEY])  # one statement: one transaction
    committed = time.monotonic()
    seen = {}
    while len(seen) < len(cluster.urls) and time.monotonic() - committed < 5:
        for index, url in enumerate(cluster.urls):
            if index not in seen and chat(url, "after").json()["model"] == "cluster-upstream-b":
                seen[index] = time.monotonic() - committed
        time.sleep(0.02)
    print(f"\nseconds from the commit until each process used the edit: {seen}")
    assert seen.get(1, 99) < 1.0 and seen.get(0, 99) < 1.0, seen


def test_celery_worker_and_beat_run(cluster):
    # Addressed to the cluster's worker by name, so the answer returns as soon as it replies.
    ping = cluster.celery("inspect", "ping", "--destination", f"gateway-worker@{socket.gethostname()}",
                          "--timeout", "10")
    assert ping.returncode == 0 and "pong" in ping.stdout, ping.stdout + ping.stderr
    logs = cluster.logs()
    assert "beat: Starting..." in logs and "beat exited" not in logs


def test_admin_login_failures_are_counted_across_processes(cluster):
    """The limit lives in Redis: failures on one process block the same client on the other."""

    def attempt(url: str, password: str) -> int:
        with httpx.Client(base_url=url, timeout=30) as client:
            page = client.get("/admin/login/")
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
            form = {"username": cluster.admin_username, "password": password, "next": "/admin/",
                    "csrfmiddlewaretoken": token}
            return client.post("/admin/login/", data=form).status_code

    assert [attempt(cluster.url(0), "wrong") for _ in range(3)] == [200, 200, 200]
    assert attempt(cluster.url(1), "wrong") == 429
    assert attempt(cluster.url(1), cluster.admin_password) == 429


def test_sigterm_stops_every_process_cleanly(cluster):
    assert cluster.stop() == 0, cluster.logs()
    logs = cluster.logs()
    for name in [f"web-{port}" for port in cluster.ports] + ["worker", "beat"]:
        assert f"{name} exited cleanly" in logs, logs
    for port in cluster.ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
