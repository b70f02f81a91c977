"""Celery tasks of the usage app (thin: the work is in usage.services)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from usage.services import usage_records_delete_expired

logger = logging.getLogger(__name__)


@shared_task(name="usage.delete_expired_rows", ignore_result=True)
def delete_expired_rows() -> int:
    """Daily (CELERY_BEAT_SCHEDULE): raw usage rows older than USAGE_RETENTION_DAYS go; the roll-ups stay."""
    days = settings.USAGE_RETENTION_DAYS
    if not days:
        return 0
    deleted = usage_records_delete_expired(days=days)
    logger.info("usage retention: deleted %d rows older than %d days", deleted, days)
    return deleted
