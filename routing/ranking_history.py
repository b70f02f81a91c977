"""A role's ranking through time, read from the ranking entries' history (django-simple-history).

`ranking_replace` records every removed and created entry with one timestamp, so each distinct history
date of a role's entries is one revision, and the ranking at a revision is the entries alive then.
Edits made elsewhere (an import) are revisions too, one per saved row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from routing.models import Model, RankingEntry
from routing.services import RankingSpec

HistoricalRankingEntry = RankingEntry.history.model


@dataclass(frozen=True, slots=True)
class RankingRevision:
    date: datetime
    user: str
    change_reason: str
    entries: tuple[RankingSpec, ...]
    missing_models: tuple[int, ...] = ()  # model rows deleted since: such a revision cannot be restored

    @property
    def models(self) -> list[str]:
        return [entry.model for entry in self.entries]


def ranking_revisions(*, role_id: int, limit: int = 30) -> list[RankingRevision]:
    """Newest first."""
    records = list(HistoricalRankingEntry.objects.filter(role_id=role_id).select_related("history_user")
                   .order_by("history_date", "history_id"))
    names = dict(Model.objects.filter(pk__in={r.model_id for r in records}).values_list("pk", "public_id"))
    alive: dict[int, object] = {}
    revisions: list[RankingRevision] = []
    index = 0
    while index < len(records):
        date = records[index].history_date
        batch = []
        while index < len(records) and records[index].history_date == date:
            batch.append(records[index])
            index += 1
        for record in batch:
            if record.history_type == "-":
                alive.pop(record.id, None)
            else:
                alive[record.id] = record
        revisions.append(_revision(date, batch, list(alive.values()), names))
    return revisions[::-1][:limit]


def ranking_at(*, role_id: int, date: datetime) -> RankingRevision | None:
    return next((rev for rev in ranking_revisions(role_id=role_id, limit=10_000) if rev.date == date), None)


def _revision(date: datetime, batch: list, alive: list, names: dict[int, str]) -> RankingRevision:
    ordered = sorted(alive, key=lambda record: (record.position, record.id))
    who = next((record.history_user for record in batch if record.history_user is not None), None)
    reason = next((record.history_change_reason for record in batch if record.history_change_reason), "")
    entries = tuple(
        RankingSpec(model=names[record.model_id], kind=record.kind, reason=record.reason, pinned=record.pinned)
        for record in ordered if record.model_id in names
    )
    missing = tuple(record.model_id for record in ordered if record.model_id not in names)
    return RankingRevision(date=date, user=who.get_username() if who else "system", change_reason=reason or "",
                           entries=entries, missing_models=missing)
