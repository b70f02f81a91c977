"""Strategy, detection-rule and opt-out rows changed: bump the configuration version (every process's prompts
snapshot polls it) and drop this process's snapshot at commit. Only the hand-off here."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save


def _changed(sender, **kwargs) -> None:
    if kwargs.get("raw"):
        return
    from django.db import transaction

    from prompts.state import prompt_snapshot
    from routing.services import config_changed

    config_changed()
    transaction.on_commit(prompt_snapshot.invalidate)


def connect() -> None:
    from prompts.models import DetectionRule, RoleStrategy, StrategyOptOut

    for model in (RoleStrategy, DetectionRule, StrategyOptOut):
        post_save.connect(_changed, sender=model, dispatch_uid=f"prompts-{model.__name__}-save")
        post_delete.connect(_changed, sender=model, dispatch_uid=f"prompts-{model.__name__}-delete")
