"""The process's context singletons: the policy snapshot, the exchanges waiting, their batched writer.

Built at import without touching the database; the writer's task starts on first use in a running loop.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings

from context.journal import EXCHANGES
from context.pending import Pending
from context.policy import Policies
from context.selectors import policies_build, policies_token
from context.services import context_batch_write
from core.snapshots import SnapshotHolder
from usage.journal import Journal
from usage.recorder import UsageRecorder
from usage.state import journal_directory

policy_snapshot: SnapshotHolder[Policies] = SnapshotHolder(
    policies_build, policies_token, settings.ROUTING_REFRESH_SECONDS, name="context"
)

pending = Pending()


logger = logging.getLogger(__name__)


def _write(items: Sequence[object]) -> int:
    """One transaction for the batch; if it fails, each item alone, so one bad exchange (a conversation whose
    rows were edited by hand, say) is logged and dropped instead of holding back every later one."""
    try:
        written = context_batch_write(items)
    except Exception:
        logger.warning("saving %d context items in one batch failed; saving them one by one", len(items),
                       exc_info=True)
        written = 0
        for item in items:
            try:
                written += context_batch_write([item])
            except Exception:
                logger.exception("dropping a context item that cannot be saved: %r", type(item).__name__)
    pending.done(list(items))
    return written


def _journal_directory() -> Path:
    return journal_directory() / "context"  # beside the usage rows' segments of the same database


# The usage rows' batched writer and journal, reused: a batch that fails stays buffered for the next flush,
# and exchanges a killed process had not saved are replayed by the next one (USAGE_JOURNAL_DIR=off: none).
recorder = UsageRecorder(
    _write, flush_interval=settings.CONTEXT_SAVE_FLUSH_INTERVAL, batch_size=settings.CONTEXT_SAVE_BATCH_SIZE,
    journal=Journal(_journal_directory, codec=EXCHANGES) if settings.USAGE_JOURNAL_DIR is not None else None,
)
