"""Writes to the routing configuration's shared state."""

from __future__ import annotations

import uuid

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from routing.models import ConfigVersion
from routing.selectors import CONFIG_VERSION_KEY


def config_version_bump() -> None:
    """Give the configuration a new version token: every process rebuilds its snapshot."""
    ConfigVersion.objects.update_or_create(key=CONFIG_VERSION_KEY, defaults={"token": uuid.uuid4()})


def config_changed() -> None:
    """Call after any edit of routing or strategy rows; acts once per transaction, after it commits.

    After commit, so no process rebuilds from rows that may still roll back or are not yet visible.
    """
    if any(entry[1] is _apply_change for entry in connection.run_on_commit):
        return  # already queued for this transaction: one bump covers a bulk import
    transaction.on_commit(_apply_change)


def _apply_change() -> None:
    from routing.state import routing_snapshot

    config_version_bump()
    routing_snapshot.invalidate()


def rows_set_enabled(queryset: QuerySet, enabled: bool) -> int:
    """Enable or disable providers or models in bulk; one config bump covers the whole batch."""
    with transaction.atomic():
        count = queryset.update(enabled=enabled, updated_at=timezone.now())
        config_changed()  # update() sends no post_save signal
    return count
