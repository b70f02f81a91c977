"""The process's usage recorder (built at import, starts its task on first use in a running loop)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.conf import settings
from django.db import connection

from usage.journal import Journal
from usage.live import live_publisher
from usage.recorder import UsageRecorder
from usage.services import usage_records_write


def journal_directory() -> Path:
    """One journal directory per database, so a replay never writes rows into another database.

    Resolved on first use, not at import: a test run switches to its test database in between.
    """
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        identity = str(Path(db["NAME"]).resolve())
    else:
        identity = f"{db.get('HOST') or ''}:{db.get('PORT') or ''}/{db['NAME']}"
    digest = hashlib.sha256(f"{connection.vendor}:{identity}".encode()).hexdigest()[:12]
    return settings.USAGE_JOURNAL_DIR / f"{connection.vendor}-{digest}"


recorder = UsageRecorder(
    usage_records_write,
    flush_interval=settings.USAGE_FLUSH_INTERVAL,
    batch_size=settings.USAGE_BATCH_SIZE,
    journal=Journal(journal_directory) if settings.USAGE_JOURNAL_DIR is not None else None,
    on_written=live_publisher,
)
