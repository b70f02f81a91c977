"""Scale-out: two gateway processes, a Celery worker and beat on one PostgreSQL database and one Redis.

Started the way production starts them (scripts/cluster.py, behind scripts/up). The last test stops the
cluster, so it runs last.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
import uuid

import httpx
import pytest

from apikeys.selectors import KEYS_VERSION_KEY
from tests.deploy.conftest import CONFIG_VERSION_KEY, requires_services

pytestmark = [requires_services, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def cluster_env() -> dict[str, str]:
    return {"ADMIN_LOGIN_ATTEMPTS": "3"}


def chat(url: str, content: str, key: str) -> httpx.Response:
    body = {"model": "cluster-model", "messages": [{"role": "user", "content": content}]}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}, timeout=30)


def wait_until_accepted(cluster, key: str, timeout: float = 10) -> None:
    """Until every process knows the key (GET /v1/models: no request is counted against its limits)."""
    deadline = time.monotonic() + timeout
    for url in cluster.urls:
        while httpx.get(f"{url}/v1/models", headers=cluster.auth(key), timeout=5).status_code != 200:
            assert time.monotonic() < deadline, f"{url} did not pick up the key"
            time.sleep(0.05)


def test_every_process_answers_health(cluster):
    for url in cluster.urls:
        response = httpx.get(f"{url}/health", timeout=5)
        assert response.status_code == 200 and response.json()["database"] == "ok"


def test_a_chat_through_each_process_is_recorded_in_the_shared_database(cluster):
    for index, url in enumerate(cluster.urls):
        response = chat(url, f"hello from process {index}", cluster.admin_key)
        assert response.status_code == 200, response.text
        assert response.json()["choices"][0]["message"]["content"] == f"mock reply to: hello from process {index}"
        assert cluster.usage_rows(response.headers["x-request-id"]) == [("ok", "cluster-model")]


def test_a_config_edit_reaches_the_other_process_within_a_second(cluster):
    """The edit is committed next to process 0 (as its admin would); process 1 uses it within a second."""
    assert chat(cluster.url(1), "before", cluster.admin_key).json()["model"] == "cluster-upstream-a"
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
            if index not in seen and chat(url, "after", cluster.admin_key).json()["model"] == "cluster-upstream-b":
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


def test_a_keys_rpm_limit_holds_across_both_processes(cluster):
    """30 requests at once, spread over both processes, against a 10-per-minute key: exactly 10 pass."""
    key = cluster.create_key("--rpm", "10")
    wait_until_accepted(cluster, key)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=30) as client:
            body = {"model": "cluster-model", "messages": [{"role": "user", "content": "burst"}]}
            responses = await asyncio.gather(*(
                client.post(f"{cluster.urls[index % 2]}/v1/chat/completions", json=body, headers=cluster.auth(key))
                for index in range(30)
            ))
        return [response.status_code for response in responses]

    statuses = asyncio.run(burst())
    assert statuses.count(200) == 10 and statuses.count(429) == 20, statuses


def test_a_revoked_key_stops_working_on_both_processes_within_a_second(cluster):
    key = cluster.create_key()
    wait_until_accepted(cluster, key)
    revoke = """
        WITH revoked AS (UPDATE apikeys_gatewaykey SET revoked_at = now() WHERE prefix = %s RETURNING id)
        INSERT INTO routing_configversion (key, token, changed_at) SELECT %s, %s, now()
        WHERE EXISTS (SELECT 1 FROM revoked)
        ON CONFLICT (key) DO UPDATE SET token = EXCLUDED.token, changed_at = EXCLUDED.changed_at
    """  # what key_revoke commits (as the admin or `manage.py revoke_key` would), in one transaction
    cluster.sql(revoke, [key[:12], KEYS_VERSION_KEY, str(uuid.uuid4())])
    revoked = time.monotonic()
    refused_after = {}
    while len(refused_after) < len(cluster.urls) and time.monotonic() - revoked < 5:
        for url in cluster.urls:
            if url not in refused_after and chat(url, "still?", key).status_code == 401:
                refused_after[url] = time.monotonic() - revoked
        time.sleep(0.02)
    print(f"\nseconds from the revocation until each process refused the key: {refused_after}")
    assert len(refused_after) == 2 and max(refused_after.values()) < 1.0, refused_after


def test_sigterm_stops_every_process_cleanly(cluster):
    assert cluster.stop() == 0, cluster.logs()
    logs = cluster.logs()
    for name in [f"web-{port}" for port in cluster.ports] + ["worker", "beat"]:
        assert f"{name} exited cleanly" in logs, logs
    for port in cluster.ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
