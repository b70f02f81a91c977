"""Process-wide holders for keys and limits: built lazily, no DB or network at import."""

from __future__ import annotations

from django.conf import settings

from apikeys.access import KeySnapshot
from apikeys.limits import LocalLimiter, RedisLimiter
from apikeys.selectors import build_key_snapshot, read_keys_token
from core.snapshots import SnapshotHolder

limiter: LocalLimiter | RedisLimiter = RedisLimiter(settings.REDIS_URL) if settings.REDIS_URL else LocalLimiter()


def _build() -> KeySnapshot:
    snapshot = build_key_snapshot()
    limiter.seed_spend(snapshot.spend_month, snapshot.spend)
    return snapshot


key_snapshot: SnapshotHolder[KeySnapshot] = SnapshotHolder(
    _build, read_keys_token, settings.KEYS_REFRESH_SECONDS, name="keys"
)
