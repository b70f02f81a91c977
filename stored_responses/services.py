"""Writes of stored responses (synchronous: the request path runs them in the writer thread)."""

from __future__ import annotations

import time
from datetime import timedelta

import orjson
from django.conf import settings
from django.utils import timezone

from stored_responses.models import StoredResponse

PRUNE_EVERY_SECONDS = 60.0
_last_prune = 0.0


def stored_response_create(*, response_id: str, api_key_prefix: str, model: str, messages: list[dict]) -> None:
    """Store one response; at most once a minute per process, drop the expired ones first."""
    stored_response_prune_expired(only_if_due=True)
    StoredResponse.objects.create(response_id=response_id, api_key_prefix=api_key_prefix, model=model[:200],
                                  created_at=timezone.now(), messages=orjson.dumps(messages).decode())


def stored_response_prune_expired(*, only_if_due: bool = False) -> int:
    global _last_prune
    now = time.monotonic()
    if only_if_due and now - _last_prune < PRUNE_EVERY_SECONDS:
        return 0
    _last_prune = now
    oldest = timezone.now() - timedelta(days=settings.RESPONSES_STORE_DAYS)
    deleted, _ = StoredResponse.objects.filter(created_at__lt=oldest).delete()
    return deleted
