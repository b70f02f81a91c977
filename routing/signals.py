"""Routing rows changed: tell the snapshot. No logic here beyond the hand-off."""

from __future__ import annotations

from django.db.models.signals import m2m_changed, post_delete, post_save


def _changed(sender, **kwargs) -> None:
    if kwargs.get("raw"):
        return
    from routing.services import config_changed

    config_changed()


def connect() -> None:
    from routing.models import Model, ModelAlias, ModelFallback, Profile, Provider, RankingEntry, Role

    for model in (Provider, Model, ModelFallback, Role, RankingEntry, Profile, ModelAlias):
        post_save.connect(_changed, sender=model, dispatch_uid=f"routing-changed-save-{model.__name__}")
        post_delete.connect(_changed, sender=model, dispatch_uid=f"routing-changed-delete-{model.__name__}")
    m2m_changed.connect(_changed, sender=Profile.providers.through, dispatch_uid="routing-changed-profile-m2m")
