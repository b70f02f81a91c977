"""The process's usage recorder (built at import, starts its task on first use in a running loop)."""

from __future__ import annotations

from django.conf import settings

from usage.recorder import UsageRecorder
from usage.services import usage_records_write

recorder = UsageRecorder(
    usage_records_write, flush_interval=settings.USAGE_FLUSH_INTERVAL, batch_size=settings.USAGE_BATCH_SIZE
)
