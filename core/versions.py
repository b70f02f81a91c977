"""Configuration version tokens: an edit bumps its domain's token after commit and drops the snapshot.

Every process polls the token (core.snapshots) and rebuilds when it moves; the editing process also
invalidates its own snapshot at once. `coalesced(key)` makes a bulk write (an import, a research run)
bump once at its end instead of once per row.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection, transaction

from core.models import ConfigVersion

Invalidate = Callable[[], None]

_local = threading.local()


def version_token(key: str) -> str | None:
    tokens = getattr(_local, "tokens", None)
    if tokens is not None:  # inside read_once()
        return tokens.get(key)
    row = ConfigVersion.objects.filter(key=key).values_list("token", flat=True).first()
    return str(row) if row is not None else None


@contextmanager
def read_once() -> Iterator[None]:
    """Within the block, this thread's `version_token` calls share one read of every domain's token: the
    background poll asks for all of them at once (core.snapshots), one query instead of one per snapshot."""
    with connection.cursor() as cursor:  # plain SQL: at a 50 ms poll, the ORM's query building was most of it
        quote = connection.ops.quote_name
        cursor.execute(f"SELECT {quote('key')}, {quote('token')} FROM {quote(ConfigVersion._meta.db_table)}")
        rows = cursor.fetchall()
    _local.tokens = {key: str(uuid.UUID(str(token))) for key, token in rows}  # SQLite keeps the hex alone
    try:
        yield
    finally:
        _local.tokens = None


def version_bump(key: str) -> None:
    """Give the domain a new token: every process rebuilds its snapshot at its next poll."""
    ConfigVersion.objects.update_or_create(key=key, defaults={"token": uuid.uuid4()})


def _apply(key: str, invalidate: Invalidate) -> None:
    version_bump(key)
    invalidate()


def changed_on_commit(key: str, invalidate: Invalidate) -> None:
    """Call after an edit of the domain's rows: once the transaction commits, bump and invalidate.

    After commit, so no process rebuilds from rows that may still roll back or are not yet visible.
    Inside `coalesced(key)` the change is held until that block ends.
    """
    pending: dict[str, Invalidate] | None = getattr(_local, "pending", None)
    if pending is not None and key in getattr(_local, "keys", ()):
        pending[key] = invalidate
        return
    transaction.on_commit(lambda: _apply(key, invalidate))


@contextmanager
def coalesced(*keys: str) -> Iterator[None]:
    """Within the block, edits of these domains schedule one bump each, at the block's end (after commit)."""
    outer = getattr(_local, "pending", None)
    if outer is not None:  # nested: the outermost block bumps
        previous_keys = _local.keys
        _local.keys = previous_keys | set(keys)
        try:
            yield
        finally:
            _local.keys = previous_keys
        return
    _local.pending, _local.keys = {}, set(keys)
    try:
        yield
    finally:
        pending = _local.pending
        del _local.pending, _local.keys
    # Reached only when the block succeeded: a block that raised (its transaction rolled back) bumps nothing.
    for key, invalidate in pending.items():
        transaction.on_commit(lambda key=key, invalidate=invalidate: _apply(key, invalidate))
