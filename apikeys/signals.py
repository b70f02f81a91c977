"""Key rows changed: tell every process's key snapshot. No logic beyond the hand-off."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save


def _changed(sender, **kwargs) -> None:
    if kwargs.get("raw"):
        return
    from apikeys.services import keys_changed

    keys_changed()


def connect() -> None:
    from apikeys.models import GatewayKey

    post_save.connect(_changed, sender=GatewayKey, dispatch_uid="apikeys-changed-save")
    post_delete.connect(_changed, sender=GatewayKey, dispatch_uid="apikeys-changed-delete")
