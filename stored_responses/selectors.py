"""Reads of stored responses (synchronous: the request path runs them in the reader pool)."""

from __future__ import annotations

from datetime import timedelta

import orjson
from django.conf import settings
from django.utils import timezone

from stored_responses.models import StoredResponse


def stored_messages(*, response_id: str, api_key_prefix: str) -> list[dict] | None:
    """The chat messages of a stored, unexpired response of this key; None when there is none."""
    oldest = timezone.now() - timedelta(days=settings.RESPONSES_STORE_DAYS)
    row = (StoredResponse.objects.filter(response_id=response_id, api_key_prefix=api_key_prefix,
                                         created_at__gte=oldest).values_list("messages", flat=True).first())
    return orjson.loads(row) if row is not None else None
