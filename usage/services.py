"""Writes of usage rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from decimal import Decimal

from django.db import close_old_connections, transaction

from usage.events import UsageEvent
from usage.models import UsageRecord


def usage_records_write(events: Sequence[UsageEvent]) -> int:
    """Write a batch atomically: all rows or none, so a retried batch never half-duplicates.

    Rows already written (same request id) are skipped, which makes a retry after an ambiguous
    failure (the commit landed but the connection dropped) safe.
    """
    close_old_connections()
    rows = []
    for event in events:
        fields = asdict(event)
        fields["cost"] = Decimal(f"{event.cost:.8f}")
        rows.append(UsageRecord(**fields))
    with transaction.atomic():
        UsageRecord.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
    return len(rows)
