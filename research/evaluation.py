"""The pure middle of a run: parsed sources, reviewed aliases, the gateway's models and the weights in;
name verdicts, model identities, role scores, proposed rankings and guarded catalogue changes out. No I/O.

- Names: a reviewed alias wins; then an exact catalogue id or canonical slug; then research.matching
  (which flags ambiguity, never guesses). Leaderboard names are matched per source (aliases are per
  source); a model row is matched on its upstream name with the gateway-wide aliases.
- Scores: research.scoring over every identity the gateway could call. Only a model with benchmark
  evidence (a family other than cost) gets a score: a price alone never ranks a model.
- Rankings: research.ranking.propose_ranking per role, over
  * the role's current entries that may stay (enabled row on an enabled provider, or rankable), and
  * one rankable model per identity the ranking does not hold yet: an enabled row first, then a disabled
    row the provider still lists, then a provider catalogue entry without a row (created disabled if it
    enters). Rankable = the provider is configured (enabled, supported kind, key set here).
- Catalogue guard: a provider catalogue's context window or price for an existing row is applied when
  within ×`factor` of the row's value, else held for review; unknown (0) catalogue values are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from research.matching import Match, Matcher
from research.ranking import RankingEntry, propose_ranking
from research.scoring import ResearchWeights, RoleScore, score_roles
from research.sources import COST, CatalogueEntry, MetricRecord

GUARD_FACTOR = 10
PRICE_FIELDS = ("input_price_per_mtok", "output_price_per_mtok")
GUARDED_FIELDS = ("context_window", *PRICE_FIELDS)


@dataclass(frozen=True, slots=True)
class GatewayModel:
    """A model the gateway has (a row) or could add (a provider catalogue entry without a row)."""

    public_id: str
    provider: str
    upstream_name: str
    exists: bool
    enabled: bool  # the row's flag; False for an entry without a row
    can_enter: bool  # rankable: see the module docstring
    can_stay: bool  # may keep a place it already has
    free: bool = False  # the provider is free tier


@dataclass(frozen=True, slots=True)
class Verdict:
    source: str | None  # a source row's name; None for a gateway model's upstream name
    name: str
    match: Match


@dataclass(frozen=True, slots=True)
class Scored:
    verdicts: tuple[Verdict, ...]
    model_identities: dict[str, str]  # public id → identity, for models that matched
    scores: dict[str, dict[str, RoleScore]]  # role → identity → score (benchmark evidence only)
    models: dict[str, GatewayModel]


@dataclass(frozen=True, slots=True)
class RowFacts:
    public_id: str
    provider: str
    upstream_name: str
    context_window: int
    input_price_per_mtok: Decimal
    output_price_per_mtok: Decimal


@dataclass(frozen=True, slots=True)
class FieldChange:
    public_id: str
    field: str
    current: int | Decimal
    proposed: int | Decimal
    source: str


def catalogue_index(catalogue: Iterable[CatalogueEntry]) -> dict[str, str]:
    """Exact names → identity: every id (`openai/gpt-4o:free`) and every canonical slug."""
    index: dict[str, str] = {}
    for entry in catalogue:
        index.setdefault(entry.id, entry.identity)
        index.setdefault(entry.identity, entry.identity)
    return index


def match_names(
    names: Iterable[str], *, catalogue: Sequence[CatalogueEntry], aliases: Mapping[str, str],
    exact: Mapping[str, str] | None = None,
) -> dict[str, Match]:
    """A verdict per distinct name: reviewed alias, then exact catalogue name, then the matcher."""
    exact = catalogue_index(catalogue) if exact is None else exact
    matcher = Matcher(catalogue, aliases)
    verdicts: dict[str, Match] = {}
    for name in dict.fromkeys(names):
        if name not in aliases and name in exact:
            verdicts[name] = Match("matched", exact[name], (exact[name],), "the catalogue's own id")
        else:
            verdicts[name] = matcher.match(name)
    return verdicts


def record_key(source: str, name: str) -> str:
    """Published names are matched per source, so records are keyed by source and name for scoring."""
    return f"{source}:{name}"


def score_models(
    *,
    leaderboards: Mapping[str, Sequence[MetricRecord]],
    catalogue: Sequence[CatalogueEntry],
    aliases: Mapping[str | None, Mapping[str, str]],
    models: Sequence[GatewayModel],
    weights: ResearchWeights,
    roles: Iterable[str],
    profile: str,
    today: date,
) -> Scored:
    """Match every name, then score every identity some gateway model stands for, per role."""
    exact = catalogue_index(catalogue)
    verdicts: list[Verdict] = []
    identities: dict[str, str] = {}
    records: list[MetricRecord] = []
    for source, source_records in leaderboards.items():
        matches = match_names(
            (r.model_name for r in source_records), catalogue=catalogue, aliases=aliases.get(source, {}), exact=exact
        )
        verdicts += [Verdict(source, name, match) for name, match in matches.items()]
        for record in source_records:
            # Every record is scored (the 0..1 scale is the publisher's, over all it published); only
            # matched names have an identity.
            key = record_key(source, record.model_name)
            records.append(replace(record, model_name=key))
            match = matches[record.model_name]
            if match.status == "matched" and match.identity:
                identities[key] = match.identity
    model_matches = match_names(
        (m.upstream_name for m in models), catalogue=catalogue, aliases=aliases.get(None, {}), exact=exact
    )
    verdicts += [Verdict(None, m.upstream_name, model_matches[m.upstream_name]) for m in models if m.exists]
    model_identities = {
        m.public_id: match.identity
        for m in models
        if (match := model_matches[m.upstream_name]).status == "matched" and match.identity
    }
    candidates = sorted(set(model_identities.values()))
    by_role = score_roles(
        [role for role in roles if role in weights.roles],
        records=records,
        identities=identities,
        candidates=candidates,
        weights=weights,
        profile=profile,
        today=today,
        catalogue=catalogue,
    )
    scores = {
        role: {identity: s for identity, s in role_scores.items() if has_benchmark_evidence(s)}
        for role, role_scores in by_role.items()
    }
    return Scored(tuple(verdicts), model_identities, scores, {m.public_id: m for m in models})


def has_benchmark_evidence(score: RoleScore) -> bool:
    return any(family.family != COST for family in score.families)


def propose_role(
    scored: Scored, role: str, current: Sequence[RankingEntry], *, margin: float, max_entries: int
) -> list[RankingEntry]:
    """The role's new ranking (may equal `current`)."""
    role_scores = scored.scores.get(role, {})
    identity_of = scored.model_identities
    current_ids = [entry.model_id for entry in current]
    callable_ids = {m for m in current_ids if (model := scored.models.get(m)) is not None and model.can_stay}
    represented = {identity_of[m] for m in current_ids if m in identity_of}
    for identity, public_id in _best_per_identity(scored).items():
        if identity not in represented and identity in role_scores:
            callable_ids.add(public_id)
    scores = {
        m: role_scores[identity_of[m]]
        for m in {*callable_ids, *current_ids}
        if m in identity_of and identity_of[m] in role_scores
    }
    free_ids = {m for m in callable_ids if (model := scored.models.get(m)) is not None and model.free}
    proposed = propose_ranking(
        current, scores, callable_ids, margin=margin, max_entries=len(current) + len(callable_ids), free_ids=free_ids
    )
    serving = {m for m, model in scored.models.items() if model.exists and model.enabled}
    serving |= {m for m in current_ids if m not in scored.models}  # not described: treat as serving, keep
    return trim_ranking(proposed, current, limit=max(max_entries, len(current)), serving=serving)


def trim_ranking(
    proposed: Sequence[RankingEntry], current: Sequence[RankingEntry], *, limit: int, serving: set[str]
) -> list[RankingEntry]:
    """Cut a proposal to `limit` entries, dropping from the bottom the entries that cannot serve yet
    (disabled rows, rows to be added) before any that can: a disabled newcomer never pushes a working model
    out, so research cannot leave a role with nothing to call. Neither a pinned entry nor the primary is
    dropped, and pinned entries keep their index."""
    pinned = {index: entry for index, entry in enumerate(current) if entry.pinned}
    rest = [entry for entry in proposed if not entry.pinned]
    room = max(limit - len(pinned), 0)
    for can_drop in (lambda e: e.model_id not in serving, lambda e: True):
        index = len(rest) - 1
        while len(rest) > room and index >= 0:
            if rest[index].kind != "primary" and can_drop(rest[index]):
                del rest[index]
            index -= 1
    result = list(rest)
    for index, entry in sorted(pinned.items()):
        result.insert(min(index, len(result)), entry)
    return result


def _best_per_identity(scored: Scored) -> dict[str, str]:
    """Per identity, the model a newcomer entry would use: enabled row, then disabled row, then a new one."""
    best: dict[str, tuple[tuple[int, str], str]] = {}
    for public_id, identity in scored.model_identities.items():
        model = scored.models[public_id]
        if not model.can_enter:
            continue
        rank = (0 if model.exists and model.enabled else 1 if model.exists else 2, public_id)
        if identity not in best or rank < best[identity][0]:
            best[identity] = (rank, public_id)
    return {identity: public_id for identity, (_, public_id) in best.items()}


def guard_catalogue_changes(
    rows: Iterable[RowFacts], listed: Mapping[str, Mapping[str, object]], *, factor: float = GUARD_FACTOR
) -> tuple[list[FieldChange], list[FieldChange]]:
    """(changes to apply, changes to hold) for existing rows whose provider catalogue lists other values.

    `listed` is provider → upstream name → an object with `context_window` and the two price fields
    (providers.catalogue.FoundModel). A price appearing on a row priced 0 (free, or never priced) is
    held: it is beyond any factor.
    """
    apply: list[FieldChange] = []
    hold: list[FieldChange] = []
    for row in rows:
        found = listed.get(row.provider, {}).get(row.upstream_name)
        if found is None:
            continue
        for field in GUARDED_FIELDS:
            new = getattr(found, field, 0) or 0
            old = getattr(row, field) or 0
            if not new or new == old:
                continue
            change = FieldChange(row.public_id, field, old, new, f"provider {row.provider} /models")
            if not old:
                (apply if field == "context_window" else hold).append(change)
            elif 1 / factor <= Decimal(new) / Decimal(old) <= factor:
                apply.append(change)
            else:
                hold.append(change)
    return apply, hold
