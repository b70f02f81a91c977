"""How runs execute: the endpoints on a real gateway process (202, 409, status, auth), a Celery worker on
the real Redis broker, the monthly periodic task and the embedded scheduler, and the next chat request
routed by the new ranking without a restart."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from research import services
from research.models import ResearchRun
from research.setup import SCHEDULE_NAME, SCHEDULE_TASK, research_setup
from routing.services import ranking_read
from tests.conftest import REDIS_BROKER_DATABASE, ROOT, database_env, dedicated_gateway, gateway_env, redis_database_url
from tests.research.conftest import point_sources_at

pytestmark = pytest.mark.timeout(180)


def wait_for_run(run_id: int, timeout: float = 60) -> ResearchRun:
    deadline = time.monotonic() + timeout
    while True:
        run = ResearchRun.objects.get(pk=run_id)
        if run.status in (ResearchRun.Status.SUCCEEDED, ResearchRun.Status.FAILED):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} still {run.status} at {run.progress}%: {run.stage}")
        time.sleep(0.1)


def test_trigger_answers_at_once_and_a_second_trigger_gets_409_with_the_running_id(world, gateway_process):
    world.files["/aider/polyglot_leaderboard.yml"].delay_seconds = 3  # keep the first run busy
    url = f"{gateway_process.url}/admin/research"

    started = time.monotonic()
    first = httpx.post(f"{url}/trigger", timeout=10)
    answered_in = time.monotonic() - started
    assert first.status_code == 202, first.text
    run_id = first.json()["run"]["id"]
    assert answered_in < 2.5  # the run executes in a thread of the gateway process, not in the request

    second = httpx.post(f"{url}/force-refresh", timeout=10)
    assert second.status_code == 409
    assert second.json()["run_id"] == run_id
    assert second.json()["error"]["code"] == "research_run_in_progress"
    status = httpx.get(f"{url}/status", timeout=10).json()
    assert status["active"]["id"] == run_id and status["active"]["status"] in ("queued", "running")

    run = wait_for_run(run_id)
    assert run.status == "succeeded", run.error
    assert f" research-run-{run_id}" in run.worker  # a thread of the gateway process
    assert ranking_read(role="implementation")[0].model != "gpt-4o"
    status = httpx.get(f"{url}/status", timeout=10).json()
    assert status["active"] is None and status["latest"]["id"] == run_id and status["latest"]["changed_roles"]

    # The lock holds across processes: a run held by this (test) process refuses the gateway's trigger.
    held = services.run_create(triggered_by="another process")
    refused = httpx.post(f"{url}/trigger", timeout=10)
    assert refused.status_code == 409 and refused.json()["run_id"] == held.pk


def test_manage_py_research_prints_progress_and_the_outcome(world):
    import io
    import json

    from django.core.management import call_command

    out = io.StringIO()
    call_command("research", "trigger", stdout=out)
    text = out.getvalue()
    assert "fetching aider" in text and "[100%] done" in text
    assert re.search(r"run \d+ succeeded: \d+ role\(s\) changed", text), text
    assert "aider: ok, 132 records" in text
    out = io.StringIO()
    call_command("research", "status", stdout=out)
    assert json.loads(out.getvalue())["latest"]["status"] == "succeeded"


def test_the_endpoints_need_an_admin_key_or_a_staff_session_with_csrf(world, settings, client, django_user_model):
    # The async endpoints go through the test client from a thread of their own: a browser test earlier in
    # the session leaves Playwright's event loop marked running in this one.
    from concurrent.futures import ThreadPoolExecutor

    settings.GATEWAY_ALLOW_ANONYMOUS = False
    with ThreadPoolExecutor(1) as thread:
        thread.submit(_check_endpoint_auth, client, django_user_model).result(timeout=60)


def _check_endpoint_auth(client, django_user_model) -> None:
    from apikeys.services import key_create

    assert client.get("/admin/research/status").status_code == 401
    _, plain = key_create(name="plain")
    _, admin = key_create(name="ops", is_admin=True)
    assert client.get("/admin/research/status", HTTP_AUTHORIZATION=f"Bearer {plain}").status_code == 403
    assert client.get("/admin/research/status", HTTP_AUTHORIZATION=f"Bearer {admin}").status_code == 200

    staff = django_user_model.objects.create_user("ops", password="pw-123456789", is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/research/status").status_code == 200
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(staff)
    refused = csrf_client.post("/admin/research/trigger")
    assert refused.status_code == 403 and not ResearchRun.objects.exists()


def test_a_celery_worker_on_the_redis_broker_executes_a_triggered_run(world, redis_url, settings, tmp_path):
    from gateway_project.celery import app

    broker = redis_database_url(REDIS_BROKER_DATABASE)
    env = {**gateway_env(database_env()), "REDIS_URL": broker, "CELERY_BROKER_URL": broker,
           "CELERY_RESULT_BACKEND": broker, "RESEARCH_PROFILE": "work"}
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "gateway_project", "worker", "--pool", "solo", "--loglevel", "INFO",
         "--hostname", f"research-test-{os.getpid()}@%h", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager")}
    try:
        settings.CELERY_TASK_ALWAYS_EAGER = False
        app.conf.update(broker_url=broker, task_always_eager=False)
        run = services.run_start(triggered_by="test")
        assert run.celery_task_id and run.status == "queued"
        done = wait_for_run(run.pk, timeout=90)
    finally:
        app.conf.update(saved)
        worker.terminate()
        worker.wait(timeout=20)
        log.close()
    logs = (tmp_path / "worker.log").read_text(errors="replace")
    assert done.status == "succeeded", f"{done.error}\n{logs}"
    assert "research.tasks.execute_run" in logs and f":{worker.pid} " in done.worker
    assert ranking_read(role="implementation")[0].model != "gpt-4o"


def test_set_up_creates_the_monthly_periodic_task_once(transactional_db):
    from django_celery_beat.models import PeriodicTask

    research_setup()
    research_setup()
    task = PeriodicTask.objects.get(name=SCHEDULE_NAME)
    assert task.task == SCHEDULE_TASK and task.enabled
    crontab = task.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_month, crontab.month_of_year, crontab.day_of_week) == (
        "0", "2", "1", "*", "*")
    assert str(crontab.timezone) == "UTC"
    assert PeriodicTask.objects.filter(task=SCHEDULE_TASK).count() == 1


def test_without_a_broker_the_gateway_process_fires_the_monthly_task_when_due(world, tmp_path):
    from django_celery_beat.models import PeriodicTask

    # The schedule last fired on 1 October: the 1 November 02:00 run is due.
    PeriodicTask.objects.filter(name=SCHEDULE_NAME).update(
        last_run_at=timezone.now().replace(month=10, day=1, hour=2, minute=0) - timedelta(days=365)
    )
    with dedicated_gateway(tmp_path, RESEARCH_EMBEDDED_SCHEDULER="true", RESEARCH_SCHEDULER_POLL_SECONDS="0.2",
                           RESEARCH_PROFILE="work"):
        deadline = time.monotonic() + 30
        while not ResearchRun.objects.exists():
            assert time.monotonic() < deadline, "the embedded scheduler did not fire the due task"
            time.sleep(0.1)
        run = wait_for_run(ResearchRun.objects.get().pk)
    assert run.triggered_by == "schedule" and run.status == "succeeded", run.error
    task = PeriodicTask.objects.get(name=SCHEDULE_NAME)
    assert task.total_run_count == 1 and task.last_run_at > timezone.now() - timedelta(minutes=5)
    assert ResearchRun.objects.count() == 1  # fired once, not at every poll


def test_the_next_chat_request_follows_the_new_ranking_without_a_restart(gateway, routing, files, settings,
                                                                           monkeypatch):
    from routing.models import Model, RankingEntry, Role
    from tests.conftest import MOCK_KEY

    monkeypatch.setenv("MOCKAI_API_KEY", MOCK_KEY)  # the provider is configured here as in the gateway

    settings.RESEARCH_PROVIDER_CATALOGUES = False
    settings.RESEARCH_PROFILE = "work"
    for public_id, upstream in (("gpt-4o", "openai/gpt-4o"), ("o3", "openai/o3")):
        Model.objects.create(public_id=public_id, provider=routing.paid, upstream_name=upstream,
                             context_window=128000, input_price_per_mtok=2, output_price_per_mtok=8)
    RankingEntry.objects.create(role=Role.objects.get(name="implementation"), model_id=Model.objects.get(
        public_id="gpt-4o").pk, kind="primary", position=0, reason="by hand")
    point_sources_at(files)
    gateway.sync_config()

    def routed_to() -> str:
        response = httpx.post(f"{gateway.base_url}/chat/completions", timeout=20, json={
            "model": "auto:implementation", "messages": [{"role": "user", "content": "write a parser"}]})
        assert response.status_code == 200, response.text
        return response.headers["x-gateway-model"]

    assert routed_to() == "gpt-4o"
    run = services.run_now(triggered_by="test")
    assert run.status == "succeeded" and "implementation" in run.changes, run.summary
    assert ranking_read(role="implementation")[0].model == "o3"
    gateway.sync_config()  # waits for the version token only: the process is the same, never restarted
    assert routed_to() == "o3"
