"""Writes to the routing configuration's shared state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from core.versions import changed_on_commit, coalesced, version_bump
from routing.models import Model, RankingEntry, Role
from routing.prices import PriceChange
from routing.selectors import CONFIG_VERSION_KEY


def config_version_bump() -> None:
    """Give the configuration a new version token: every process rebuilds its snapshot."""
    version_bump(CONFIG_VERSION_KEY)


def config_changed() -> None:
    """Call after any edit of routing or strategy rows; acts after the transaction commits."""
    changed_on_commit(CONFIG_VERSION_KEY, _invalidate_local)


def config_bulk_edit():
    """A block of many routing edits (an import, a research run): one version bump at its end."""
    return coalesced(CONFIG_VERSION_KEY)


def _invalidate_local() -> None:
    from routing.state import routing_snapshot

    routing_snapshot.invalidate()


def rows_set_enabled(queryset: QuerySet, enabled: bool, *, user=None) -> int:
    """Enable or disable providers or models in bulk; one config bump covers the whole batch, and each
    changed row gets its history record (who, when)."""
    with config_bulk_edit(), transaction.atomic():
        rows = list(queryset.select_for_update().exclude(enabled=enabled))
        now = timezone.now()
        for row in rows:
            row.enabled, row.updated_at = enabled, now
        bulk_update_with_history(rows, queryset.model, ["enabled", "updated_at"], default_user=user,
                                 default_change_reason="enabled" if enabled else "disabled", default_date=now)
        config_changed()  # bulk updates send no post_save signal
    return len(rows)


def model_prices_apply(*, changes: Sequence[PriceChange]) -> int:
    """Write planned price changes (routing.prices) in one transaction and one config bump; returns how many
    models changed. A change naming a model that no longer exists is skipped."""
    by_model: dict[str, dict[str, object]] = {}
    for change in changes:
        by_model.setdefault(change.model, {})[change.field] = change.new
    updated = 0
    with config_bulk_edit(), transaction.atomic():
        for public_id, fields in by_model.items():
            updated += Model.objects.filter(public_id=public_id).update(**fields, updated_at=timezone.now())
        config_changed()  # update() sends no post_save signal
    return updated


@dataclass(frozen=True, slots=True)
class RankingSpec:
    """One entry of a role's ranking, by the model's public id; a ranking is a list of these, in order."""

    model: str
    kind: str = RankingEntry.Kind.FALLBACK
    reason: str = ""
    pinned: bool = False


class RankingInvalid(ValueError):
    """The ranking cannot be stored as given; the message names the entry and why."""


def ranking_read(*, role: str) -> list[RankingSpec]:
    return [
        RankingSpec(model=entry.model.public_id, kind=entry.kind, reason=entry.reason, pinned=entry.pinned)
        for entry in RankingEntry.objects.filter(role__name=role).select_related("model").order_by("position", "id")
    ]


def ranking_replace(
    *, role: str, entries: Sequence[RankingSpec], user=None, change_reason: str = ""
) -> list[RankingSpec]:
    """Make `entries` the role's whole ranking, in order, atomically, with one config bump; returns the
    ranking it replaced (what a revert restores). Raises RankingInvalid with nothing changed.

    History: the removed and the new entries are recorded with one timestamp, `user` (None: the request's
    user when there is one, else nobody, e.g. a research run) and `change_reason`, so the ranking at any
    revision is `RankingEntry.history.as_of(that time)` (routing.ranking_history)."""
    kinds = set(RankingEntry.Kind.values)
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        if entry.kind not in kinds:
            raise RankingInvalid(f"{role}[{index}]: kind {entry.kind!r} is not one of {', '.join(sorted(kinds))}.")
        if entry.model in seen:
            raise RankingInvalid(f"{role}[{index}]: model {entry.model!r} is listed twice.")
        seen.add(entry.model)
    with config_bulk_edit(), transaction.atomic():
        role_row = Role.objects.select_for_update().filter(name=role).first()
        if role_row is None:
            raise RankingInvalid(f"Unknown role {role!r}.")
        models = {row.public_id: row for row in Model.objects.filter(public_id__in=seen)}
        missing = [entry.model for entry in entries if entry.model not in models]
        if missing:
            raise RankingInvalid(f"{role}: no model with id {', '.join(repr(m) for m in missing)}.")
        previous = ranking_read(role=role)
        stamp = timezone.now()
        for old in RankingEntry.objects.filter(role=role_row):  # one by one: each removal gets its history row
            old._history_date, old._change_reason = stamp, change_reason
            if user is not None:
                old._history_user = user
            old.delete()
        bulk_create_with_history(
            [RankingEntry(role=role_row, model=models[entry.model], kind=entry.kind, position=position,
                          reason=entry.reason, pinned=entry.pinned)
             for position, entry in enumerate(entries)],
            RankingEntry, default_user=user, default_change_reason=change_reason, default_date=stamp,
        )
        config_changed()  # bulk_create sends no post_save signal
    return previous


def model_fields_update(*, updates: Sequence[tuple[str, str, object]]) -> list[str]:
    """Set catalogue facts of existing model rows: (public id, field, value) with field one of
    context_window, input_price_per_mtok, output_price_per_mtok. Never creates or deletes a row; one
    config bump for the batch; returns the public ids changed. Raises ValueError for any other field."""
    allowed = {"context_window", "input_price_per_mtok", "output_price_per_mtok"}
    wrong = sorted({field for _, field, _ in updates} - allowed)
    if wrong:
        raise ValueError(f"model_fields_update cannot set {', '.join(wrong)}; only {', '.join(sorted(allowed))}.")
    by_model: dict[str, dict[str, object]] = {}
    for public_id, field, value in updates:
        by_model.setdefault(public_id, {})[field] = value
    changed: list[str] = []
    with config_bulk_edit(), transaction.atomic():
        for public_id, values in by_model.items():
            if Model.objects.filter(public_id=public_id).update(**values, updated_at=timezone.now()):
                changed.append(public_id)
        if changed:
            config_changed()  # update() sends no post_save signal
    return changed
