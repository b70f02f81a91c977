"""Celery tasks for research: thin, they call research.services."""

from __future__ import annotations

import logging

from celery import shared_task

from research import services

logger = logging.getLogger(__name__)


@shared_task(name="research.tasks.execute_run", ignore_result=True)
def execute_run(run_id: int) -> None:
    """Execute a run created by `research.services.run_start` (trigger or force-refresh)."""
    services.run_execute(run_id=run_id)


@shared_task(name="research.tasks.run_research", ignore_result=True)
def run_research(mode: str = "trigger", triggered_by: str = "schedule") -> int | None:
    """The monthly schedule's task: create and execute a run here; skipped when one is in progress."""
    try:
        return services.run_now(mode=mode, triggered_by=triggered_by).pk
    except services.RunInProgress as exc:
        logger.warning("scheduled research skipped: run %s is in progress", exc.run_id)
        return None
