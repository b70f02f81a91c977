"""Celery tasks of the context store (thin: the work is in context.services)."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings


@shared_task(name="context.tasks.purge_conversations")
def purge_conversations() -> str:
    """Apply CONVERSATION_RETENTION_DAYS (0: keep everything)."""
    from context.services import conversations_purge

    days = settings.CONVERSATION_RETENTION_DAYS
    if not days:
        return "retention is off (CONVERSATION_RETENTION_DAYS=0)"
    return str(conversations_purge(older_than=timedelta(days=days)))
