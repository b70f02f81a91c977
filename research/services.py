"""Writes for research: start a run (one at a time, across processes), execute it, revert it.

The lock is the run row itself: `ResearchRun.active` is True while a run is queued or running and NULL
after, under a unique index, so a second `INSERT ... active=True` fails in the database whichever process
tries it (PostgreSQL or SQLite alike). A run whose process died stops holding it after
RESEARCH_STALE_SECONDS without progress.

Dispatch: with a broker the run is a Celery task (`research.tasks.execute_run`) for the worker; without one
(CELERY_TASK_ALWAYS_EAGER, the embedded default) it runs in a thread of this process, so the request that
triggered it answers at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from research import runner
from research.models import CatalogueChange, ResearchRun
from routing.services import RankingInvalid, config_bulk_edit, model_fields_update, ranking_replace

logger = logging.getLogger(__name__)


class RunInProgress(Exception):
    """Another run holds the lock; `run_id` names it (the API answers 409 with it)."""

    def __init__(self, run_id: int | None) -> None:
        super().__init__(f"research run {run_id} is already in progress")
        self.run_id = run_id


class RevertRefused(Exception):
    """The run cannot be reverted; the message says why."""


def runs_release_stale() -> int:
    """Fail runs that hold the lock but showed no progress for RESEARCH_STALE_SECONDS (their process died)."""
    cutoff = timezone.now() - timedelta(seconds=settings.RESEARCH_STALE_SECONDS)
    stale = ResearchRun.objects.filter(active=True).filter(
        heartbeat_at__lt=cutoff
    ) | ResearchRun.objects.filter(active=True, heartbeat_at__isnull=True, created_at__lt=cutoff)
    return stale.update(
        active=None, status=ResearchRun.Status.FAILED, finished_at=timezone.now(),
        error=f"no progress for {settings.RESEARCH_STALE_SECONDS}s: its process stopped",
    )


def run_create(*, mode: str = ResearchRun.Mode.TRIGGER, triggered_by: str = "") -> ResearchRun:
    """A queued run holding the lock. Raises RunInProgress when another run holds it."""
    if mode not in ResearchRun.Mode.values:
        raise ValueError(f"mode must be one of {', '.join(ResearchRun.Mode.values)}, not {mode!r}")
    runs_release_stale()
    try:
        with transaction.atomic():
            return ResearchRun.objects.create(mode=mode, triggered_by=triggered_by[:200], active=True,
                                              heartbeat_at=timezone.now())
    except IntegrityError:
        active = ResearchRun.objects.filter(active=True).values_list("pk", flat=True).first()
        raise RunInProgress(active) from None


def run_start(*, mode: str = ResearchRun.Mode.TRIGGER, triggered_by: str = "") -> ResearchRun:
    """Create a run and hand it to the worker (or, without a broker, a thread here); returns at once.
    Raises RunInProgress."""
    run = run_create(mode=mode, triggered_by=triggered_by)
    if settings.CELERY_TASK_ALWAYS_EAGER:
        thread = threading.Thread(target=_execute_in_thread, args=(run.pk,), name=f"research-run-{run.pk}",
                                  daemon=True)
        thread.start()
        ResearchRun.objects.filter(pk=run.pk).update(worker=f"thread {thread.name}")
    else:
        from research.tasks import execute_run

        try:
            result = execute_run.delay(run.pk)
        except Exception as exc:  # the broker is unreachable: release the lock, say so
            ResearchRun.objects.filter(pk=run.pk).update(
                active=None, status=ResearchRun.Status.FAILED, finished_at=timezone.now(),
                error=f"could not queue the run: {type(exc).__name__}: {exc}",
            )
            raise
        ResearchRun.objects.filter(pk=run.pk).update(celery_task_id=result.id or "")
    run.refresh_from_db()
    return run


def _execute_in_thread(run_id: int) -> None:
    try:
        run_execute(run_id=run_id)
    finally:
        connections.close_all()  # this thread ends: its connection must not linger until garbage collection


def run_execute(*, run_id: int, echo: Callable[[str], None] | None = None, transport=None) -> ResearchRun | None:
    """Execute a queued run (the task body). Returns None when the run is not queued (already done)."""
    claimed = ResearchRun.objects.filter(pk=run_id, status=ResearchRun.Status.QUEUED, active=True).update(
        status=ResearchRun.Status.RUNNING, heartbeat_at=timezone.now()
    )
    if not claimed:
        logger.warning("research run %s is not queued; not executed twice", run_id)
        return None
    return runner.execute(ResearchRun.objects.get(pk=run_id), echo=echo, transport=transport)


def run_now(*, mode: str = ResearchRun.Mode.TRIGGER, triggered_by: str = "",
            echo: Callable[[str], None] | None = None, transport=None) -> ResearchRun:
    """Create and execute a run in this thread (the management command, the scheduled task). Raises
    RunInProgress."""
    run = run_create(mode=mode, triggered_by=triggered_by)
    result = run_execute(run_id=run.pk, echo=echo, transport=transport)
    assert result is not None  # just created and claimed here
    return result


def run_revert(*, run: ResearchRun, by: str) -> list[str]:
    """Restore the rankings of every role the run changed to exactly what they were before it (order,
    kinds, reasons, pins), in one transaction with one config version bump; returns the roles restored.
    Raises RevertRefused (nothing changed) when the run changed nothing, another run is in progress, a later
    run not yet reverted changed the same roles (revert that one first), or a model of the old ranking no
    longer exists."""
    if not run.previous_rankings:
        raise RevertRefused(f"run {run.pk} changed no ranking; there is nothing to revert.")
    if ResearchRun.objects.filter(active=True).exists():
        raise RevertRefused("a research run is in progress; revert after it ends.")
    for later in ResearchRun.objects.filter(pk__gt=run.pk, reverted_at__isnull=True).order_by("pk"):
        overlap = sorted(set(later.previous_rankings) & set(run.previous_rankings))
        if overlap:  # restoring under it would silently drop that run's changes, and its own revert
            raise RevertRefused(f"run {later.pk} changed {', '.join(overlap)} after run {run.pk}; revert it first.")
    try:
        with config_bulk_edit(), transaction.atomic():
            for role, entries in sorted(run.previous_rankings.items()):
                ranking_replace(role=role, entries=[runner.spec_from_dict(entry) for entry in entries],
                                change_reason=f"revert of research run {run.pk}")
            ResearchRun.objects.filter(pk=run.pk).update(reverted_at=timezone.now(), reverted_by=by[:200])
    except RankingInvalid as exc:
        raise RevertRefused(f"run {run.pk} cannot be reverted: {exc}") from None
    run.refresh_from_db()
    return sorted(run.previous_rankings)


def catalogue_change_decide(*, change: CatalogueChange, apply: bool, by: str) -> None:
    """Apply or reject a held price/context change (the model row is updated only when applied)."""
    if change.status != CatalogueChange.Status.HELD:
        return
    with transaction.atomic():
        if apply:
            value = int(change.proposed_value) if change.field == "context_window" else change.proposed_value
            model_fields_update(updates=[(change.model.public_id, change.field, value)])
        change.status = CatalogueChange.Status.APPLIED if apply else CatalogueChange.Status.REJECTED
        change.decided_at, change.decided_by = timezone.now(), by[:150]
        change.save(update_fields=["status", "decided_at", "decided_by"])
