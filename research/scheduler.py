"""The embedded scheduler: without a broker, the gateway process runs research's periodic tasks itself.

django-celery-beat's rows stay the one schedule (edited in the admin: Periodic tasks); this thread reads
them every RESEARCH_SCHEDULER_POLL_SECONDS, decides what is due exactly as Celery beat's DatabaseScheduler
does (its `ModelEntry.is_due`), claims the run by moving `last_run_at` forward with a compare-and-set (so
two processes on one database fire a task once), and executes the task here, in this thread: requests are
never blocked by it. Only tasks named `research.*` are run; with a broker (REDIS_URL) Celery beat and the
worker do this instead and the embedded scheduler is off (RESEARCH_EMBEDDED_SCHEDULER).
"""

from __future__ import annotations

import json
import logging
import threading

from celery import current_app
from django.db import close_old_connections
from django.db.models import F
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import ModelEntry

from research import tasks  # noqa: F401  (registers the tasks the schedule names in this process)

logger = logging.getLogger(__name__)

TASK_PREFIX = "research."


def due_tasks_run() -> list[str]:
    """Run every enabled research periodic task that is due; returns the names of those run."""
    ran: list[str] = []
    for task in PeriodicTask.objects.filter(enabled=True, task__startswith=TASK_PREFIX):
        registered = current_app.tasks.get(task.task)
        if registered is None:
            logger.error("periodic task %r names %r, which is not a registered task", task.name, task.task)
            continue
        entry = ModelEntry(task, app=current_app)
        if not entry.is_due().is_due:
            continue
        previous = task.last_run_at  # None on a fresh row: the entry measured from date_changed
        now = entry._default_now()
        claimed = PeriodicTask.objects.filter(pk=task.pk, last_run_at=previous).update(
            last_run_at=now, total_run_count=F("total_run_count") + 1
        ) if previous is not None else PeriodicTask.objects.filter(pk=task.pk, last_run_at__isnull=True).update(
            last_run_at=now, total_run_count=F("total_run_count") + 1
        )
        if not claimed:  # another process fired it
            continue
        logger.info("embedded scheduler: running %r", task.name)
        registered.apply(args=json.loads(task.args or "[]"), kwargs=json.loads(task.kwargs or "{}"))
        ran.append(task.name)
    return ran


class EmbeddedScheduler:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, poll_seconds: float) -> None:
        """Start the polling thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(poll_seconds,), name="research-scheduler",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the thread to end (it does at once when waiting for its next poll); with `timeout`, wait for it."""
        self._stop.set()
        if timeout is not None and self._thread is not None:
            self._thread.join(timeout)

    def _loop(self, poll_seconds: float) -> None:
        while not self._stop.wait(poll_seconds):
            try:
                due_tasks_run()
            except Exception:  # a bad row or a lost database connection: try again next poll
                logger.exception("embedded scheduler: checking the periodic tasks failed")
            try:
                close_old_connections()
            except Exception:  # it reconnects to check: a database still down must not end the thread
                logger.warning("embedded scheduler: closing the database connection failed", exc_info=True)


embedded_scheduler = EmbeddedScheduler()
