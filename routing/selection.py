"""Choosing which models to try, in order. Pure: a snapshot and a request in, candidates out; no I/O.

- `auto` / `auto:<role>`: the role's ranking, reordered by the profile's tier preference;
- a public model id: that model, then its configured fallbacks;
- an alias (routing.aliases: an exact id or a glob such as `claude-opus-*`): its targets in order,
  the first that can serve the request; each candidate says which target it came through (`via`);
- `<provider>/<upstream model>`: a pattern route straight to that provider.
Candidates that cannot be used (disabled, no key, outside the profile, missing a capability the
request needs) are left out; when none remain, the error says why for each.

Each candidate says in words why it is on the list (`reason`): the response's X-Gateway-Route-Reason,
the usage row and the admin's routing preview show it. Dispatch adds what happened to each (skipped,
failed). The words are built from the snapshot only, with f-strings: selection stays pure and cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from core.errors import ModelNotAvailable, ModelNotFound
from providers.specs import ModelSpec, ProviderSpec
from routing.aliases import AliasSpec, find_alias, resolve_target
from routing.snapshot import ProfileSpec, RoutingSnapshot

AUTO_MODEL = "auto"  # the model id that routes by role ranking; `auto:<role>` names the role

DEFAULT_ROLE = "general"
EMBEDDING = "embedding"  # the need of an embeddings request: only embedding models serve it
ALL_TIERS = ("free", "paid", "enterprise")


KIND_WORDS = {"primary": "primary", "fallback": "fallback", "free_tier": "free-tier alternative"}


@dataclass(frozen=True, slots=True)
class Candidate:
    model: ModelSpec
    provider: ProviderSpec
    kind: str  # requested | fallback | pattern | (a ranking entry's kind:) primary | fallback | free_tier
    # What the reason is made of: a template tag and its values, put into words only when asked (`reason`),
    # so that selection stays cheap for the candidates nobody asks about. A plain string is the reason itself.
    basis: tuple | str = ()
    via: str = ""  # the alias target this candidate was reached through ('auto:general', 'anthropic/*', ...)

    @property
    def reason(self) -> str:
        """Why this is a candidate, in words, e.g. "role 'general' ranking #1 (primary: best value)"."""
        words = self._basis_words()
        return f"alias to '{self.via}': {words}" if self.via else words

    def _basis_words(self) -> str:
        if not self.basis or isinstance(self.basis, str):
            return self.basis or self.kind
        tag, *values = self.basis
        if tag == "requested":
            return f"model '{values[0]}' requested by id"
        if tag == "fallback_of":
            return f"fallback #{values[0]} of '{values[1]}'"
        if tag == "pattern":
            return f"pattern route {values[0]}/<model> to provider '{values[0]}' (upstream model '{values[1]}')"
        ranked_as, position, stored, tier, profile, tiers = values
        words = KIND_WORDS.get(self.kind, self.kind)
        why = f"{words}: {stored}" if stored else words
        order = f", {tier} tier first in profile '{profile}'" if len(tiers) > 1 and tier == tiers[0] else ""
        return f"{ranked_as} ranking #{position + 1} ({why}{order})"


def resolve_profile(snapshot: RoutingSnapshot, name: str | None) -> ProfileSpec:
    """The named profile, else the active one; a missing active profile allows everything."""
    if name is not None:
        profile = snapshot.profiles.get(name)
        if profile is None:
            raise ModelNotAvailable(f"Unknown profile '{name}'.", param="profile", code="profile_not_found")
        return profile
    return snapshot.profiles.get(snapshot.default_profile) or ProfileSpec(snapshot.default_profile, ALL_TIERS)


def is_auto(model: str) -> bool:
    return model == AUTO_MODEL or model.startswith(f"{AUTO_MODEL}:")


def select_candidates(
    snapshot: RoutingSnapshot,
    *,
    model: str,
    role: str | None,
    profile: ProfileSpec,
    needs: frozenset[str] = frozenset(),
) -> list[Candidate]:
    """Raises ModelNotFound (404) for an unknown model, ModelNotAvailable (400) when nothing is usable."""
    if is_auto(model):
        return _auto_candidates(snapshot, role or DEFAULT_ROLE, profile, needs)
    if model not in snapshot.models:
        alias = find_alias(snapshot.aliases, model)
        if alias is not None:
            return _alias_candidates(snapshot, model, alias, role, profile, needs)
    return _direct_candidates(snapshot, model, profile, needs)


def is_alias(snapshot: RoutingSnapshot, model: str) -> bool:
    """Does `model` resolve through an alias (it is neither `auto` nor a model of the catalogue)?"""
    return not is_auto(model) and model not in snapshot.models and find_alias(snapshot.aliases, model) is not None


def routes_by_detected_role(snapshot: RoutingSnapshot, model: str) -> bool:
    """Is the role detected for this request what picks its model: `auto`, or an alias one of whose targets is
    a bare `auto` (Claude Code's main model, by the shipped aliases)?"""
    if is_auto(model):
        return True
    if not is_alias(snapshot, model):
        return False
    alias = find_alias(snapshot.aliases, model)
    return alias is not None and AUTO_MODEL in alias.targets


def _alias_candidates(
    snapshot: RoutingSnapshot, model: str, alias: AliasSpec, role: str | None, profile: ProfileSpec,
    needs: frozenset[str],
) -> list[Candidate]:
    problems = []
    for target in alias.targets:
        try:
            if is_auto(target):
                target_role = target.partition(":")[2] or role or DEFAULT_ROLE
                candidates = _auto_candidates(snapshot, target_role, profile, needs)
            else:
                candidates = _direct_candidates(snapshot, resolve_target(target, model), profile, needs)
        except (ModelNotAvailable, ModelNotFound) as problem:
            problems.append(f"{target}: {problem.message}")
            continue
        return [replace(candidate, via=target) for candidate in candidates]
    raise ModelNotAvailable(
        f"Model '{model}' is an alias ('{alias.pattern}') and none of its targets can serve it: "
        + " ".join(problems), param="model",
    )


def _direct_candidates(
    snapshot: RoutingSnapshot, model: str, profile: ProfileSpec, needs: frozenset[str]
) -> list[Candidate]:
    spec = snapshot.models.get(model)
    if spec is not None:
        return _named_candidates(snapshot, spec, profile, needs)
    prefix, _, upstream_name = model.partition("/")
    provider = snapshot.providers.get(prefix)
    if provider is not None and upstream_name:
        pattern = ModelSpec(public_id=model, provider=provider.name, upstream_name=upstream_name)
        problem = unusable_reason(snapshot, pattern, profile, frozenset())
        if problem:
            raise ModelNotAvailable(f"Model '{model}' cannot be used: {problem}.", param="model")
        return [Candidate(pattern, provider, "pattern", ("pattern", provider.name, upstream_name))]
    raise ModelNotFound(
        f"The model '{model}' does not exist on this gateway. GET /v1/models lists the models you can use, "
        "or send 'auto' to let the gateway choose.",
        param="model",
    )


def unusable_reason(
    snapshot: RoutingSnapshot, model: ModelSpec, profile: ProfileSpec, needs: frozenset[str]
) -> str | None:
    """Why a model cannot serve this request now, or None when it can."""
    provider = snapshot.providers.get(model.provider)
    if provider is None:
        return f"its provider '{model.provider}' is not configured"
    if not model.enabled:
        return "the model is disabled"
    if not provider.enabled:
        return f"provider '{provider.name}' is disabled"
    if provider.kind not in snapshot.supported_kinds:
        return f"provider '{provider.name}' has kind '{provider.kind}', which this gateway cannot call yet"
    if not provider.has_key:
        return f"provider '{provider.name}' has no API key (set {provider.key_env})"
    if not profile.allows(provider):
        return f"profile '{profile.name}' does not use provider '{provider.name}' ({provider.tier} tier)"
    if (model.kind == "embedding") != (EMBEDDING in needs):
        return ("it is an embedding model: use POST /v1/embeddings" if model.kind == "embedding"
                else "it is not an embedding model")
    missing = [need for need in sorted(needs) if not _supports(model, need)]
    if missing:
        return f"the model does not support {', '.join(missing)}"
    return None


def _supports(model: ModelSpec, need: str) -> bool:
    return {"tools": model.supports_tools, "json": model.supports_json, "vision": model.supports_vision}.get(
        need, True
    )


def _named_candidates(
    snapshot: RoutingSnapshot, spec: ModelSpec, profile: ProfileSpec, needs: frozenset[str]
) -> list[Candidate]:
    problem = unusable_reason(snapshot, spec, profile, needs)
    if problem:
        raise ModelNotAvailable(f"Model '{spec.public_id}' cannot be used: {problem}.", param="model")
    candidates = [Candidate(spec, snapshot.providers[spec.provider], "requested", ("requested", spec.public_id))]
    for number, fallback_id in enumerate(spec.fallbacks, start=1):
        fallback = snapshot.models.get(fallback_id)
        if fallback is not None and unusable_reason(snapshot, fallback, profile, needs) is None:
            candidates.append(Candidate(fallback, snapshot.providers[fallback.provider], "fallback",
                                        ("fallback_of", number, spec.public_id)))
    return candidates


def _auto_candidates(
    snapshot: RoutingSnapshot, role: str, profile: ProfileSpec, needs: frozenset[str]
) -> list[Candidate]:
    ranking = snapshot.rankings.get(role)
    ranked_as = f"role '{role}'"
    if not ranking:
        ranking = snapshot.rankings.get(DEFAULT_ROLE) or ()
        ranked_as = f"role '{role}' (unranked, so '{DEFAULT_ROLE}')"
    usable: list[tuple[int, int, Candidate]] = []
    problems: list[str] = []
    seen: set[str] = set()
    for position, entry in enumerate(ranking):
        spec = snapshot.models.get(entry.model)
        if spec is None or spec.public_id in seen:
            continue
        seen.add(spec.public_id)
        problem = unusable_reason(snapshot, spec, profile, needs)
        if problem:
            problems.append(f"{spec.public_id}: {problem}")
            continue
        provider = snapshot.providers[spec.provider]
        # Stable: the profile's tier preference first, the ranking's own order within a tier.
        basis = ("ranked", ranked_as, position, entry.reason, provider.tier, profile.name, profile.tiers)
        usable.append((profile.tiers.index(provider.tier), position, Candidate(spec, provider, entry.kind, basis)))
    if not usable:
        detail = "; ".join(problems) if problems else "the role has no ranked models"
        raise ModelNotAvailable(
            f"No model can serve role '{role}' under profile '{profile.name}': {detail}.", param="model"
        )
    usable.sort(key=lambda item: (item[0], item[1]))
    return [candidate for _, _, candidate in usable]

