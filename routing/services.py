"""Writes to the routing configuration's shared state."""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from core.versions import changed_on_commit, coalesced, version_bump
from routing.selectors import CONFIG_VERSION_KEY


def config_version_bump() -> None:
    """Give the configuration a new version token: every process rebuilds its snapshot."""
    version_bump(CONFIG_VERSION_KEY)


def config_changed() -> None:
    """Call after any edit of routing or strategy rows; acts after the transaction commits."""
    changed_on_commit(CONFIG_VERSION_KEY, _invalidate_local)


def config_bulk_edit():
    """A block of many routing edits (an import, a research run): one version bump at its end."""
    return coalesced(CONFIG_VERSION_KEY)


def _invalidate_local() -> None:
    from routing.state import routing_snapshot

    routing_snapshot.invalidate()


def rows_set_enabled(queryset: QuerySet, enabled: bool) -> int:
    """Enable or disable providers or models in bulk; one config bump covers the whole batch."""
    with config_bulk_edit(), transaction.atomic():
        count = queryset.update(enabled=enabled, updated_at=timezone.now())
        config_changed()  # update() sends no post_save signal
    return count
