"""Strategy rows changed: tell the routing snapshot, which the request path reads. Only the hand-off here."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save


def _changed(sender, **kwargs) -> None:
    if kwargs.get("raw"):
        return
    from routing.services import config_changed

    config_changed()


def connect() -> None:
    from prompts.models import RoleStrategy

    post_save.connect(_changed, sender=RoleStrategy, dispatch_uid="prompts-changed-save")
    post_delete.connect(_changed, sender=RoleStrategy, dispatch_uid="prompts-changed-delete")
