"""Context policies changed: tell the snapshot. No logic here beyond the hand-off."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save


def _changed(sender, **kwargs) -> None:
    if kwargs.get("raw"):
        return
    from context.selectors import CONFIG_VERSION_KEY
    from context.state import policy_snapshot
    from core.versions import changed_on_commit

    changed_on_commit(CONFIG_VERSION_KEY, policy_snapshot.invalidate)


def connect() -> None:
    from context.models import ContextPolicy

    post_save.connect(_changed, sender=ContextPolicy, dispatch_uid="context-policy-save")
    post_delete.connect(_changed, sender=ContextPolicy, dispatch_uid="context-policy-delete")
