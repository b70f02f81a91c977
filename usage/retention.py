"""Retention without Celery beat (scripts/run: one process, no broker): the gateway process itself deletes
expired raw rows once a day, batch by batch in its DB writer thread, pausing between batches so usage
batches interleave. With a broker (scripts/up) Celery beat runs usage.delete_expired_rows instead."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from core.background import run_write
from usage.services import usage_records_delete_batch

logger = logging.getLogger(__name__)

DAY_SECONDS = 86400.0
FIRST_RUN_DELAY_SECONDS = 60.0
PAUSE_SECONDS = 0.05

_task: asyncio.Task | None = None


async def delete_expired_rows_now(days: int) -> int:
    before = timezone.now() - timedelta(days=days)
    total = 0
    while deleted := await run_write(usage_records_delete_batch, before=before):
        total += deleted
        await asyncio.sleep(PAUSE_SECONDS)
    return total


async def _daily(days: int) -> None:
    await asyncio.sleep(FIRST_RUN_DELAY_SECONDS)
    while True:
        try:
            deleted = await delete_expired_rows_now(days)
            if deleted:
                logger.info("usage retention: deleted %d rows older than %d days", deleted, days)
        except Exception:
            logger.exception("usage retention failed; trying again tomorrow")
        await asyncio.sleep(DAY_SECONDS)


def start_in_process_retention() -> None:
    """A lifecycle start-up hook: only when retention is on and no Celery beat can run it."""
    global _task
    if not settings.USAGE_RETENTION_DAYS or not settings.CELERY_TASK_ALWAYS_EAGER:
        return
    if _task is None or _task.done():
        _task = asyncio.get_running_loop().create_task(_daily(settings.USAGE_RETENTION_DAYS),
                                                       name="usage-retention")
