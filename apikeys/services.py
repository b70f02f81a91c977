"""Writes to gateway keys: create (the plaintext is returned once, never stored), revoke."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from apikeys.keyformat import generate_key
from apikeys.models import GatewayKey
from apikeys.selectors import KEYS_VERSION_KEY
from core.versions import changed_on_commit
from routing.models import Profile


def keys_changed() -> None:
    """After commit, give the keys a new version: every process reloads them (revocations included)."""
    changed_on_commit(KEYS_VERSION_KEY, _invalidate_local)


def _invalidate_local() -> None:
    from apikeys.state import key_snapshot

    key_snapshot.invalidate()


def key_fill_secret(key: GatewayKey) -> str:
    """Give an unsaved key its secret; returns the plaintext, which exists nowhere else afterwards."""
    plaintext, key.prefix, key.key_hash = generate_key()
    return plaintext


def key_create(
    *,
    name: str,
    profile: Profile | None = None,
    allowed_models: str = "",
    allowed_roles: str = "",
    rpm_limit: int | None = None,
    tpm_limit: int | None = None,
    monthly_budget: Decimal | None = None,
    expires_at: datetime | None = None,
    is_admin: bool = False,
) -> tuple[GatewayKey, str]:
    key = GatewayKey(
        name=name, profile=profile, allowed_models=allowed_models, allowed_roles=allowed_roles,
        rpm_limit=rpm_limit, tpm_limit=tpm_limit, monthly_budget=monthly_budget, expires_at=expires_at,
        is_admin=is_admin,
    )
    plaintext = key_fill_secret(key)
    key.full_clean()
    key.save()
    return key, plaintext


def key_revoke(*, key: GatewayKey) -> None:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at", "updated_at"])
