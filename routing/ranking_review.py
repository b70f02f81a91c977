"""Reviewing a proposed ranking before it is stored: which entries cannot serve now, and whether a profile
would be left with nothing. Pure: a snapshot and two rankings in, a review out; no I/O.

Warnings never block a save (an operator may rank a model whose key is set tomorrow). A refusal does: a
profile that could serve the role before the edit must still be able to after it. A profile that could
not serve the role before either is reported as a warning, so fixing something else is never blocked by
an older problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from routing.selection import ALL_TIERS, DEFAULT_ROLE, unusable_reason
from routing.snapshot import ProfileSpec, RankedModel, RoutingSnapshot

# Entry warnings are about the entry itself (model, provider, key), not about a profile's tier choice.
_ANY_PROFILE = ProfileSpec("any", ALL_TIERS)


@dataclass(frozen=True, slots=True)
class RankingReview:
    entry_warnings: dict[str, str] = field(default_factory=dict)  # model id -> why it cannot serve now
    profile_warnings: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)  # non-empty: the save is refused

    @property
    def refused(self) -> bool:
        return bool(self.refusals)


def review_ranking(
    snapshot: RoutingSnapshot, *, role: str, proposed: Sequence[str], current: Sequence[str]
) -> RankingReview:
    """`proposed` and `current` are model ids in order. An empty ranking of a role other than the default
    one falls back to the default role's ranking, as `auto` does."""
    entry_warnings = {}
    for model_id in proposed:
        spec = snapshot.models.get(model_id)
        problem = "no such model" if spec is None else unusable_reason(snapshot, spec, _ANY_PROFILE, frozenset())
        if problem:
            entry_warnings[model_id] = problem
    refusals: list[str] = []
    profile_warnings: list[str] = []
    for profile in profiles_of(snapshot):
        after = _usable(snapshot, profile, _effective(snapshot, role, proposed))
        if after:
            continue
        before = _usable(snapshot, profile, _effective(snapshot, role, current))
        detail = _why_none(snapshot, profile, _effective(snapshot, role, proposed))
        message = f"role '{role}' would have no usable model under profile '{profile.name}' ({detail})"
        (refusals if before else profile_warnings).append(message)
    return RankingReview(entry_warnings, profile_warnings, refusals)


def profiles_of(snapshot: RoutingSnapshot) -> list[ProfileSpec]:
    """Every stored profile, and the active one even when no row defines it (it then allows every tier)."""
    profiles = dict(snapshot.profiles)
    profiles.setdefault(snapshot.default_profile, ProfileSpec(snapshot.default_profile, ALL_TIERS))
    return [profiles[name] for name in sorted(profiles)]


def with_ranking(snapshot: RoutingSnapshot, role: str, model_ids: Sequence[str]) -> RoutingSnapshot:
    """The snapshot as it would be with `role` ranked as given (kinds and reasons kept where known)."""
    known = {entry.model: entry for entry in snapshot.rankings.get(role, ())}
    ranking = tuple(known.get(model_id) or RankedModel(model=model_id, kind="fallback") for model_id in model_ids)
    rankings = {**snapshot.rankings, role: ranking}
    if not ranking:
        rankings.pop(role)
    return replace(snapshot, rankings=rankings)


def _effective(snapshot: RoutingSnapshot, role: str, ranking: Sequence[str]) -> Sequence[str]:
    if ranking or role == DEFAULT_ROLE:
        return ranking
    return [entry.model for entry in snapshot.rankings.get(DEFAULT_ROLE, ())]


def _usable(snapshot: RoutingSnapshot, profile: ProfileSpec, ranking: Sequence[str]) -> bool:
    models = snapshot.models
    return any(
        model_id in models and unusable_reason(snapshot, models[model_id], profile, frozenset()) is None
        for model_id in ranking
    )


def _why_none(snapshot: RoutingSnapshot, profile: ProfileSpec, ranking: Sequence[str]) -> str:
    if not ranking:
        return "the ranking is empty"
    reasons = []
    for model_id in ranking:
        spec = snapshot.models.get(model_id)
        problem = "no such model" if spec is None else unusable_reason(snapshot, spec, profile, frozenset())
        reasons.append(f"{model_id}: {problem}")
    return "; ".join(reasons)
