"""A proposed new ranking for one role: pure, conservative, and explained.

Rules, so a monthly run does not churn a ranking people rely on:
- only callable models enter; an unpinned entry that is no longer callable leaves;
- pinned entries never move: they keep their index, kind and reason;
- an entry keeps its place unless the one below it outscores it by more than `margin` (adjacent swaps,
  repeated until stable, so a newcomer climbs only past entries it clearly beats — no flapping between
  near-equal models month to month). Entries without a score are never overtaken: there is no evidence;
- newcomers start below the existing entries, best first, and the list grows to `max_entries` at most
  (never shrinks below its current length); an existing entry only drops off the end when newcomers
  outscored their way above it;
- kinds: free-tier entries stay `free_tier`; the first other entry is `primary` (unless a pinned primary
  exists), the rest `fallback`;
- reasons: existing entries keep their human-written reason; a new primary gets one naming the numbers
  and sources that beat the old primary ("SWE-bench bash-only 65% vs 22%, Aider polyglot 56% vs 23%,
  2025-07 data"); other newcomers get one against the entry just below them.
`diff_rankings` turns before/after into JSON-ready changes for the run row.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Literal

from research.scoring import Component, RoleScore, format_value

Kind = Literal["primary", "fallback", "free_tier"]
PRIMARY, FALLBACK, FREE_TIER = "primary", "fallback", "free_tier"
DEFAULT_MARGIN = 0.05
DEFAULT_MAX_ENTRIES = 5
_MAX_REASON_ITEMS = 4


@dataclass(frozen=True, slots=True)
class RankingEntry:
    model_id: str
    kind: str  # primary | fallback | free_tier
    reason: str = ""
    pinned: bool = False


@dataclass(frozen=True, slots=True)
class RankingChange:
    action: str  # added | removed | moved | updated (same place, kind or reason changed)
    model_id: str
    before_index: int | None
    after_index: int | None
    before_kind: str | None
    after_kind: str | None
    before_reason: str | None
    after_reason: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def propose_ranking(
    current: Sequence[RankingEntry],
    scores: Mapping[str, RoleScore],
    callable_ids: Collection[str],
    *,
    margin: float = DEFAULT_MARGIN,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    free_ids: Collection[str] = (),
) -> list[RankingEntry]:
    """The new ordered entries for a role. `scores` is keyed by model id (the ids in `current`)."""
    callable_set = set(callable_ids)
    pinned = {index: entry for index, entry in enumerate(current) if entry.pinned}
    present = {entry.model_id for entry in current}
    kept = [e for e in current if not e.pinned and e.model_id in callable_set]
    newcomers = sorted(
        (m for m in callable_set if m not in present and m in scores),
        key=lambda m: (-scores[m].score, m),
    )
    order: list[RankingEntry | str] = [*kept, *newcomers]
    _settle(order, scores, margin)
    room = max(max_entries, len(kept) + len(pinned)) - len(pinned)
    order = order[: max(room, 0)]

    free = set(free_ids) | {e.model_id for e in current if e.kind == FREE_TIER}
    slots = _place(order, pinned)

    old_primary = next((e for e in current if e.kind == PRIMARY), None)
    has_pinned_primary = any(e.kind == PRIMARY for e in pinned.values())
    result: list[RankingEntry] = []
    primary_given = has_pinned_primary
    for index, slot in enumerate(slots):
        if isinstance(slot, RankingEntry) and slot.pinned:
            result.append(slot)
            continue
        model_id = slot.model_id if isinstance(slot, RankingEntry) else slot
        if model_id in free:
            kind = FREE_TIER
        elif not primary_given:
            kind, primary_given = PRIMARY, True
        else:
            kind = FALLBACK
        reason = slot.reason if isinstance(slot, RankingEntry) else ""
        if kind == PRIMARY and old_primary is not None and old_primary.model_id != model_id:
            old_id = old_primary.model_id
            reason = replacement_reason(model_id, scores.get(model_id), old_id, scores.get(old_id))
        elif isinstance(slot, str):
            below = _next_id(slots, index)
            reason = replacement_reason(model_id, scores.get(model_id), below, scores.get(below) if below else None)
        result.append(RankingEntry(model_id, kind, reason, False))
    return result


def replacement_reason(winner_id: str, winner: RoleScore | None, loser_id: str | None, loser: RoleScore | None) -> str:
    """Why `winner_id` sits above `loser_id`: the metrics where it beats it, with both numbers and sources."""
    if winner is None:
        return f"{winner_id}: no benchmark data"
    if loser_id and loser is not None:
        head = f"{winner_id} over {loser_id} for {winner.role} ({winner.score:.2f} vs {loser.score:.2f})"
    else:
        head = f"{winner_id} scores {winner.score:.2f} for {winner.role}"
    mine = _components(winner)
    theirs = {(c.source, c.metric): c for c in _components(loser)}
    shared = [(c, theirs[(c.source, c.metric)]) for c in mine if (c.source, c.metric) in theirs]
    beating = ([(a, b) for a, b in shared if a.normalised > b.normalised] or shared)[:_MAX_REASON_ITEMS]
    if beating:
        parts = [f"{a.label} {format_value(a.raw, a.unit)} vs {format_value(b.raw, b.unit)}" for a, b in beating]
        days = [d for a, b in beating for d in (a.as_of, b.as_of) if d]
    else:
        own = mine[:_MAX_REASON_ITEMS]
        parts = [f"{c.label} {format_value(c.raw, c.unit)}" for c in own]
        days = [c.as_of for c in own if c.as_of]
        if loser_id:
            parts.append(f"no comparable results for {loser_id}")
    if days:
        parts.append(f"{_month(max(days))} data")
    return f"{head}: {', '.join(parts)}" if parts else head


def diff_rankings(before: Sequence[RankingEntry], after: Sequence[RankingEntry]) -> list[RankingChange]:
    """Every entry added, removed, moved, or changed in kind/reason, in the order of `after` then removals."""
    old = {e.model_id: (i, e) for i, e in enumerate(before)}
    new = {e.model_id: (i, e) for i, e in enumerate(after)}
    changes: list[RankingChange] = []
    for model_id, (index, entry) in new.items():
        if model_id not in old:
            changes.append(RankingChange("added", model_id, None, index, None, entry.kind, None, entry.reason))
            continue
        was_index, was = old[model_id]
        if was_index != index or was.kind != entry.kind or was.reason != entry.reason:
            action = "moved" if was_index != index else "updated"
            changes.append(
                RankingChange(action, model_id, was_index, index, was.kind, entry.kind, was.reason, entry.reason)
            )
    for model_id, (index, entry) in old.items():
        if model_id not in new:
            changes.append(RankingChange("removed", model_id, index, None, entry.kind, None, entry.reason, None))
    return changes


def _place(order: list[RankingEntry | str], pinned: dict[int, RankingEntry]) -> list[RankingEntry | str]:
    """Pinned entries at their old index (the nearest free one if the list got shorter), the rest in order."""
    slots: list[RankingEntry | str | None] = [None] * (len(order) + len(pinned))
    for index, entry in sorted(pinned.items()):
        target = min(index, len(slots) - 1)
        free = [i for i, slot in enumerate(slots) if slot is None]
        slots[min(free, key=lambda i: (abs(i - target), -i))] = entry
    rest = iter(order)
    return [slot if slot is not None else next(rest) for slot in slots]


def _settle(order: list[RankingEntry | str], scores: Mapping[str, RoleScore], margin: float) -> None:
    """Adjacent swaps while the lower item beats the upper by more than `margin`.

    Each swap raises the sum of score × height, so this terminates; an unscored item never swaps.
    """
    swapped = True
    while swapped:
        swapped = False
        for i in range(len(order) - 1):
            upper, lower = scores.get(_id(order[i])), scores.get(_id(order[i + 1]))
            if upper is not None and lower is not None and lower.score > upper.score + margin:
                order[i], order[i + 1] = order[i + 1], order[i]
                swapped = True


def _components(score: RoleScore | None) -> list[Component]:
    if score is None:
        return []
    families = sorted(score.families, key=lambda f: -f.weight)
    scored = [c for f in families for c in sorted(f.components, key=lambda c: -c.normalised)]
    weight = {f.family: f.weight for f in score.families}
    extra = sorted(score.context, key=lambda c: (-weight.get(c.family, 0.0), c.source, c.metric))
    return scored + extra


def _id(item: RankingEntry | str) -> str:
    return item.model_id if isinstance(item, RankingEntry) else item


def _next_id(slots: Sequence[RankingEntry | str], index: int) -> str | None:
    return _id(slots[index + 1]) if index + 1 < len(slots) else None


def _month(day: date) -> str:
    return day.strftime("%Y-%m")
