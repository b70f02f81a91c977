"""Role scores from benchmark records: pure arithmetic, every number traceable to a URL and a date.

Steps, each chosen so a score can be explained and does not jump for the wrong reasons:
1. `normalise`: each (source, metric) is min-max scaled to 0..1 over every model that source published
   (matched or not, so the scale is the publisher's, not our catalogue's), honouring `higher_is_better`.
   A metric where all models tie gives 0.5 (no information either way).
2. Per family, ONE publisher supplies every candidate's value — the one covering most candidates (then the
   freshest, then by name). Two publishers' scales are never averaged: Elo and pass rates do not mix.
3. A model's family value is the recency-weighted mean of that publisher's metrics in the family; recency
   is `0.5 ** (age_days / half_life_days)`.
4. Cost comes from catalogue prices on a fixed log scale (see `config/research_weights.yaml`); free
   models score 1. Its weight is the role's cost weight times the profile's multiplier.
5. Role score = weighted mean over the families the model has (weights × recency) × coverage, where
   coverage is the share of the role's total weight the model has evidence for, stale evidence counting
   partly (a year-old result at a one-year half-life counts half). Missing families are listed.
When one published name maps to an identity twice in a metric (reruns, effort levels), the latest result
is used, then the better one.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from research.sources import METRICS
from research.sources.records import COST, WEIGHT_FAMILIES, CatalogueEntry, MetricRecord

DEFAULT_WEIGHTS_PATH = Path(__file__).resolve().parent.parent / "config" / "research_weights.yaml"
COST_METRIC = "blended_price"
COST_LABEL = "OpenRouter price"


class WeightsError(ValueError):
    """The weights file is malformed; the message names the offending key."""


@dataclass(frozen=True, slots=True)
class CostScale:
    input_share: float = 0.75
    floor_per_million: float = 0.1
    ceiling_per_million: float = 30.0


@dataclass(frozen=True)
class ResearchWeights:
    roles: dict[str, dict[str, float]]
    profiles: dict[str, float] = field(default_factory=lambda: {"personal": 3.0, "work": 0.25})
    half_life_days: float = 365.0
    coverage_exponent: float = 1.0
    cost: CostScale = field(default_factory=CostScale)

    def role_weights(self, role: str, profile: str) -> dict[str, float]:
        """Effective family weights of a role under a profile; raises WeightsError for an unknown name."""
        if role not in self.roles:
            raise WeightsError(f"unknown role {role!r}; known: {sorted(self.roles)}")
        if profile not in self.profiles:
            raise WeightsError(f"unknown profile {profile!r}; known: {sorted(self.profiles)}")
        weights = dict(self.roles[role])
        if COST in weights:
            weights[COST] *= self.profiles[profile]
        return {family: weight for family, weight in weights.items() if weight > 0}

    def recency(self, as_of: date | None, today: date) -> float:
        if as_of is None:
            return 1.0
        return 0.5 ** (max(0, (today - as_of).days) / self.half_life_days)


@dataclass(frozen=True, slots=True)
class Component:
    """One number behind a family score, with where it came from."""

    metric: str
    label: str
    unit: str
    source: str
    family: str
    raw: float
    normalised: float
    higher_is_better: bool
    as_of: date | None
    url: str
    recency: float
    published_name: str


@dataclass(frozen=True, slots=True)
class FamilyScore:
    family: str
    source: str
    value: float
    weight: float
    recency: float
    components: tuple[Component, ...]


@dataclass(frozen=True, slots=True)
class RoleScore:
    identity: str
    role: str
    profile: str
    score: float
    quality: float  # the weighted mean before the coverage penalty
    coverage: float
    families: tuple[FamilyScore, ...]
    missing: tuple[str, ...]
    # Results from publishers not chosen for a family: not scored (scales must not mix), but quoted in reasons.
    context: tuple[Component, ...] = ()

    def family(self, name: str) -> FamilyScore | None:
        return next((f for f in self.families if f.family == name), None)

    def explain(self) -> str:
        parts = [f"{self.role} score {self.score:.2f} (coverage {self.coverage:.0%})"]
        for fam in self.families:
            items = ", ".join(f"{c.label} {format_value(c.raw, c.unit)} ({_month(c.as_of)})" for c in fam.components)
            parts.append(f"{fam.family} {fam.value:.2f} from {fam.source}: {items}")
        if self.missing:
            parts.append(f"no data for {', '.join(self.missing)}")
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class NormalisedRecord:
    record: MetricRecord
    normalised: float


# ---- weights file -------------------------------------------------------------------------------------


def load_weights(text: str) -> ResearchWeights:
    """Weights from YAML text; raises WeightsError naming what is wrong."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise WeightsError(f"invalid YAML: {str(exc).splitlines()[0]}") from None
    return weights_from_dict(data)


def load_weights_file(path: Path | str = DEFAULT_WEIGHTS_PATH) -> ResearchWeights:
    return load_weights(Path(path).read_text(encoding="utf-8"))


def dump_weights(weights: ResearchWeights) -> str:
    """YAML that `load_weights` reads back to an equal object (comments are not kept)."""
    return yaml.safe_dump(weights_to_dict(weights), sort_keys=False)


def weights_to_dict(weights: ResearchWeights) -> dict[str, Any]:
    return {
        "version": 1,
        "half_life_days": weights.half_life_days,
        "coverage_exponent": weights.coverage_exponent,
        "cost": {
            "input_share": weights.cost.input_share,
            "floor_per_million": weights.cost.floor_per_million,
            "ceiling_per_million": weights.cost.ceiling_per_million,
        },
        "profiles": dict(weights.profiles),
        "roles": {role: dict(families) for role, families in weights.roles.items()},
    }


def weights_from_dict(data: object) -> ResearchWeights:
    if not isinstance(data, dict):
        raise WeightsError("the weights file must be a mapping")
    if data.get("version", 1) != 1:
        raise WeightsError(f"unsupported version {data.get('version')!r}; this code reads version 1")
    roles_raw = data.get("roles")
    if not isinstance(roles_raw, dict) or not roles_raw:
        raise WeightsError("'roles' must be a non-empty mapping of role → {family: weight}")
    roles: dict[str, dict[str, float]] = {}
    for role, families in roles_raw.items():
        if not isinstance(families, dict) or not families:
            raise WeightsError(f"roles.{role} must be a non-empty mapping of family → weight")
        roles[str(role)] = {}
        for family, weight in families.items():
            if family not in WEIGHT_FAMILIES:
                raise WeightsError(f"roles.{role}: unknown family {family!r}; known: {', '.join(WEIGHT_FAMILIES)}")
            roles[str(role)][family] = _non_negative(weight, f"roles.{role}.{family}")
    profiles_raw = data.get("profiles", {"personal": 3.0, "work": 0.25})
    if not isinstance(profiles_raw, dict) or not profiles_raw:
        raise WeightsError("'profiles' must be a non-empty mapping of profile → cost multiplier")
    profiles = {str(name): _non_negative(value, f"profiles.{name}") for name, value in profiles_raw.items()}
    cost_raw = data.get("cost", {})
    if not isinstance(cost_raw, dict):
        raise WeightsError("'cost' must be a mapping")
    cost = CostScale(
        input_share=_non_negative(cost_raw.get("input_share", 0.75), "cost.input_share"),
        floor_per_million=_positive(cost_raw.get("floor_per_million", 0.1), "cost.floor_per_million"),
        ceiling_per_million=_positive(cost_raw.get("ceiling_per_million", 30.0), "cost.ceiling_per_million"),
    )
    if cost.input_share > 1 or cost.ceiling_per_million <= cost.floor_per_million:
        raise WeightsError("cost: input_share must be ≤ 1 and ceiling_per_million above floor_per_million")
    return ResearchWeights(
        roles=roles,
        profiles=profiles,
        half_life_days=_positive(data.get("half_life_days", 365), "half_life_days"),
        coverage_exponent=_non_negative(data.get("coverage_exponent", 1.0), "coverage_exponent"),
        cost=cost,
    )


def _non_negative(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise WeightsError(f"{where} must be a number ≥ 0, got {value!r}")
    return float(value)


def _positive(value: object, where: str) -> float:
    number = _non_negative(value, where)
    if number == 0:
        raise WeightsError(f"{where} must be above 0")
    return number


# ---- scoring -----------------------------------------------------------------------------------------


def normalise(records: Iterable[MetricRecord]) -> list[NormalisedRecord]:
    """Each record scaled 0..1 within its (source, metric), 1 being best."""
    groups: dict[tuple[str, str], list[MetricRecord]] = defaultdict(list)
    for record in records:
        groups[(record.source, record.metric)].append(record)
    result: list[NormalisedRecord] = []
    for group in groups.values():
        low, high = min(r.value for r in group), max(r.value for r in group)
        for record in group:
            if high == low:
                value = 0.5
            elif record.higher_is_better:
                value = (record.value - low) / (high - low)
            else:
                value = (high - record.value) / (high - low)
            result.append(NormalisedRecord(record, value))
    return result


def cost_score(entry: CatalogueEntry, scale: CostScale) -> tuple[float, float] | None:
    """(blended USD per million tokens, score 0..1) for a catalogue entry; None when unpriced."""
    if entry.free:
        return 0.0, 1.0
    if entry.input_price_per_token is None or entry.output_price_per_token is None:
        return None
    blended = 1e6 * (
        scale.input_share * entry.input_price_per_token + (1 - scale.input_share) * entry.output_price_per_token
    )
    if blended <= scale.floor_per_million:
        return blended, 1.0
    span = math.log(scale.ceiling_per_million / scale.floor_per_million)
    return blended, max(0.0, 1 - math.log(blended / scale.floor_per_million) / span)


def score_role(
    role: str,
    *,
    records: Iterable[MetricRecord] | Iterable[NormalisedRecord],
    identities: Mapping[str, str],
    candidates: Iterable[str],
    weights: ResearchWeights,
    profile: str,
    today: date,
    catalogue: Iterable[CatalogueEntry] = (),
) -> dict[str, RoleScore]:
    """Scores of `candidates` (catalogue identities) for one role, keyed by identity.

    `identities` maps a published model name to the identity it was matched to; unmatched names are simply
    absent. `records` may be raw or already normalised (pass `normalise(...)` once to score many roles).
    Raises WeightsError for an unknown role or profile.
    """
    role_weights = weights.role_weights(role, profile)
    pool = list(dict.fromkeys(candidates))
    evidence = _evidence(_as_normalised(records), identities, set(pool), weights, today)
    publishers = choose_publishers(evidence, pool)
    costs = _cost_components(catalogue, set(pool), weights, COST in role_weights)
    total_weight = sum(role_weights.values())
    scores: dict[str, RoleScore] = {}
    for identity in pool:
        families: list[FamilyScore] = []
        context = [
            component
            for (family, source), by_identity in sorted(evidence.items())
            if family in role_weights and source != publishers.get(family)
            for component in by_identity.get(identity, [])
        ]
        for family, weight in role_weights.items():
            if family == COST:
                components = costs.get(identity, [])
                source = "openrouter"
            else:
                source = publishers.get(family, "")
                components = evidence.get((family, source), {}).get(identity, [])
            if components:
                families.append(_family(family, source, weight, components))
        weighted = sum(f.weight * f.recency for f in families)
        quality = sum(f.weight * f.recency * f.value for f in families) / weighted if weighted else 0.0
        coverage = weighted / total_weight if total_weight else 0.0
        scores[identity] = RoleScore(
            identity=identity,
            role=role,
            profile=profile,
            score=quality * coverage**weights.coverage_exponent,
            quality=quality,
            coverage=coverage,
            families=tuple(families),
            missing=tuple(f for f in role_weights if all(fs.family != f for fs in families)),
            context=tuple(context),
        )
    return scores


def score_roles(
    roles: Iterable[str] | None = None,
    *,
    records: Iterable[MetricRecord],
    identities: Mapping[str, str],
    candidates: Iterable[str],
    weights: ResearchWeights,
    profile: str,
    today: date,
    catalogue: Iterable[CatalogueEntry] = (),
) -> dict[str, dict[str, RoleScore]]:
    """`score_role` for several roles (default: all in the weights), normalising once."""
    normalised = normalise(records)
    pool, entries = list(candidates), list(catalogue)
    return {
        role: score_role(
            role,
            records=normalised,
            identities=identities,
            candidates=pool,
            weights=weights,
            profile=profile,
            today=today,
            catalogue=entries,
        )
        for role in (roles if roles is not None else weights.roles)
    }


def choose_publishers(
    evidence: Mapping[tuple[str, str], Mapping[str, list[Component]]], candidates: Iterable[str]
) -> dict[str, str]:
    """Per family, the source covering most candidates; ties go to the freshest data, then the name."""
    pool = set(candidates)
    ranked: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for (family, source), by_identity in evidence.items():
        covered = [i for i in by_identity if i in pool]
        if covered:
            newest = max((c.as_of for i in covered for c in by_identity[i] if c.as_of), default=date.min)
            ranked[family].append((-len(covered), -newest.toordinal(), source))
    return {family: min(options)[2] for family, options in ranked.items()}


def format_value(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:.0f}%" if abs(value - round(value)) < 0.05 or value >= 10 else f"{value:.1f}%"
    if unit == "Elo":
        return f"{value:.0f} Elo"
    if unit == "s":
        return f"{value:.0f}s"
    if unit == "$/M":
        return "free" if value == 0 else f"${value:.2f}/M"
    return f"{value:.3g}"


def _as_normalised(records: Iterable[MetricRecord] | Iterable[NormalisedRecord]) -> list[NormalisedRecord]:
    items = list(records)
    if all(isinstance(item, NormalisedRecord) for item in items):
        return items  # type: ignore[return-value]
    return normalise(item for item in items if isinstance(item, MetricRecord))


def _evidence(
    normalised: list[NormalisedRecord],
    identities: Mapping[str, str],
    pool: set[str],
    weights: ResearchWeights,
    today: date,
) -> dict[tuple[str, str], dict[str, list[Component]]]:
    """(family, source) → identity → components, one per metric (latest, then best, when duplicated)."""
    chosen: dict[tuple[str, str, str], NormalisedRecord] = {}
    for item in normalised:
        identity = identities.get(item.record.model_name)
        if identity is None or identity not in pool:
            continue
        key = (item.record.source, item.record.metric, identity)
        current = chosen.get(key)
        if current is None or _prefer(item, current):
            chosen[key] = item
    evidence: dict[tuple[str, str], dict[str, list[Component]]] = defaultdict(lambda: defaultdict(list))
    for (source, metric, identity), item in sorted(chosen.items()):
        record = item.record
        info = METRICS.get(metric)
        evidence[(record.family, source)][identity].append(
            Component(
                metric=metric,
                label=info.label if info else metric,
                unit=info.unit if info else "",
                source=source,
                family=record.family,
                raw=record.value,
                normalised=item.normalised,
                higher_is_better=record.higher_is_better,
                as_of=record.as_of,
                url=record.url,
                recency=weights.recency(record.as_of, today),
                published_name=record.model_name,
            )
        )
    return evidence


def _prefer(new: NormalisedRecord, old: NormalisedRecord) -> bool:
    new_day, old_day = new.record.as_of or date.min, old.record.as_of or date.min
    return (new_day, new.normalised) > (old_day, old.normalised)


def _cost_components(
    catalogue: Iterable[CatalogueEntry], pool: set[str], weights: ResearchWeights, wanted: bool
) -> dict[str, list[Component]]:
    if not wanted:
        return {}
    best: dict[str, tuple[CatalogueEntry, float, float]] = {}
    for entry in catalogue:
        if entry.identity not in pool:
            continue
        priced = cost_score(entry, weights.cost)
        if priced is None:
            continue
        if entry.identity not in best or priced[1] > best[entry.identity][2]:
            best[entry.identity] = (entry, *priced)
    return {
        identity: [
            Component(
                metric=COST_METRIC,
                label=COST_LABEL,
                unit="$/M",
                source="openrouter",
                family=COST,
                raw=blended,
                normalised=value,
                higher_is_better=False,
                as_of=entry.as_of,
                url=entry.source_url,
                recency=1.0,  # today's price list
                published_name=entry.id,
            )
        ]
        for identity, (entry, blended, value) in best.items()
    }


def _family(family: str, source: str, weight: float, components: list[Component]) -> FamilyScore:
    total = sum(c.recency for c in components)
    value = sum(c.recency * c.normalised for c in components) / total if total else 0.0
    return FamilyScore(family, source, value, weight, total / len(components), tuple(components))


def _month(day: date | None) -> str:
    return day.strftime("%Y-%m") if day else "undated"
