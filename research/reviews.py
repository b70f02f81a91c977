"""The alias table and its review queue: what each published name means, recorded and reviewed.

A run records every name it saw with the matcher's verdict (`aliases_record`). Unreviewed rows follow
the matcher, run after run; a reviewed row is the operator's word and steers the matcher from then on
(research.selectors.reviewed_aliases). The queue is the unreviewed unmatched and ambiguous rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from research.evaluation import Verdict
from research.models import ModelAlias, ResearchSource

_FIELDS = ("identity", "status", "candidates", "reason", "last_seen_at")


class AliasInvalid(ValueError):
    """The review cannot be stored; the message says why."""


def aliases_record(
    *, verdicts: Iterable[Verdict], sources: Mapping[str, ResearchSource], seen_at: datetime | None = None
) -> Counter[str]:
    """Store each verdict on its name's row (creating rows for new names); returns counts per status.

    Reviewed rows only get `last_seen_at`: the operator's decision stands.
    """
    seen_at = seen_at or timezone.now()
    by_source: dict[str | None, list[Verdict]] = {}
    for verdict in verdicts:
        by_source.setdefault(verdict.source, []).append(verdict)
    counts: Counter[str] = Counter()
    with transaction.atomic():
        for source_name, items in by_source.items():
            source = sources.get(source_name) if source_name is not None else None
            if source_name is not None and source is None:
                continue
            existing = {row.published_name: row for row in ModelAlias.objects.filter(source=source)}
            new_rows: list[ModelAlias] = []
            changed: list[ModelAlias] = []
            for verdict in items:
                match = verdict.match
                counts[match.status if source is not None else f"model_{match.status}"] += 1
                values = {
                    "identity": match.identity or "",
                    "status": match.status,
                    "candidates": list(match.candidates),
                    "reason": match.reason[:2000],
                    "last_seen_at": seen_at,
                }
                row = existing.get(verdict.name)
                if row is None:
                    new_rows.append(ModelAlias(source=source, published_name=verdict.name[:300], **values))
                elif row.reviewed:
                    row.last_seen_at = seen_at
                    changed.append(row)
                else:
                    for name, value in values.items():
                        setattr(row, name, value)
                    changed.append(row)
            ModelAlias.objects.bulk_create(new_rows, batch_size=500)
            ModelAlias.objects.bulk_update(changed, _FIELDS, batch_size=500)
    return counts


def review_queue() -> QuerySet[ModelAlias]:
    return ModelAlias.objects.filter(
        reviewed=False, status__in=[ModelAlias.Status.UNMATCHED, ModelAlias.Status.AMBIGUOUS]
    ).select_related("source")


def alias_review(*, alias: ModelAlias, identity: str, by: str) -> ModelAlias:
    """Record the operator's decision: `identity` is the catalogue model the name means, or empty for
    "not a model in the catalogue". Raises AliasInvalid for an identity longer than the column."""
    identity = identity.strip()
    if identity.lower() == "none":
        identity = ""
    if len(identity) > ModelAlias._meta.get_field("identity").max_length:
        raise AliasInvalid(f"identity {identity[:40]!r}… is too long.")
    alias.identity = identity
    alias.reviewed = True
    alias.status = ModelAlias.Status.MATCHED if identity else ModelAlias.Status.UNMATCHED
    alias.reviewed_at = timezone.now()
    alias.reviewed_by = by[:150]
    alias.save(update_fields=["identity", "reviewed", "status", "reviewed_at", "reviewed_by"])
    return alias


def aliases_accept_candidate(*, aliases: Iterable[ModelAlias], by: str) -> tuple[list[ModelAlias], list[ModelAlias]]:
    """Accept the only candidate of each name; returns (accepted, skipped: none or several candidates)."""
    accepted, skipped = [], []
    with transaction.atomic():
        for alias in aliases:
            if len(alias.candidates or []) == 1:
                accepted.append(alias_review(alias=alias, identity=str(alias.candidates[0]), by=by))
            else:
                skipped.append(alias)
    return accepted, skipped


def aliases_mark_none(*, aliases: Iterable[ModelAlias], by: str) -> int:
    """Mark names as not a model in the catalogue (reviewed, no identity); returns how many."""
    with transaction.atomic():
        return sum(1 for alias in aliases if alias_review(alias=alias, identity="", by=by))
