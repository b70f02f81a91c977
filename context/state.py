"""The process's context singletons: the policy snapshot, the exchanges waiting, their batched writer.

Built at import without touching the database; the writer's task starts on first use in a running loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from django.conf import settings

from context.journal import EXCHANGES
from context.pending import Pending
from context.policy import Policies
from context.selectors import policies_build, policies_token
from context.services import context_items_save
from context.writer_process import WriterProcess
from core.snapshots import SnapshotHolder
from usage.journal import Journal
from usage.recorder import UsageRecorder
from usage.state import journal_directory

policy_snapshot: SnapshotHolder[Policies] = SnapshotHolder(
    policies_build, policies_token, settings.ROUTING_REFRESH_SECONDS, name="context"
)

pending = Pending()


writer_process = WriterProcess(nice=settings.CONTEXT_WRITER_NICE)


def _write(items: Sequence[object]) -> int:
    """In the writer thread: the batch goes to the writer process (context.writer_process), or is written here
    when the setting is off or no child can take it. Never raises; the items leave `pending` either way."""
    written = writer_process.write(items) if settings.CONTEXT_WRITER_PROCESS else None
    if written is None:
        written = context_items_save(items)
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
