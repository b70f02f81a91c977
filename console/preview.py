"""The routing preview: for every role × profile, the chain of models `auto` would try now, and why.

Pure: a routing snapshot, the live state (circuits as this process knows them, the quota) and optionally
a gateway key in; plain dicts out (the page and its JSON endpoint render the same data). The chain is
`routing.selection.select_candidates` itself, then the key's model restrictions (`apikeys.access`), then
the circuit breaker's order (held-back providers go last, as dispatch tries them), so the preview and
the request path cannot disagree about the order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from apikeys.access import Access, KeySpec, PermissionDenied, authorize, permitted
from core.errors import GatewayError
from routing.ranking_review import profiles_of
from routing.selection import AUTO_MODEL, DEFAULT_ROLE, Candidate, select_candidates, unusable_reason
from routing.snapshot import ProfileSpec, RoutingSnapshot

KIND_WORDS = {
    "primary": "primary choice",
    "fallback": "fallback",
    "free_tier": "free-tier alternative",
}


@dataclass(frozen=True, slots=True)
class LiveState:
    """What the serving process knows beyond the configuration."""

    circuits: Mapping[str, Mapping] = field(default_factory=dict)  # provider -> proxy.circuit report entry
    quota: Mapping | None = None  # /status's quota block: provider, remaining, exhausted, monthly_tokens


def preview_chains(
    snapshot: RoutingSnapshot,
    live: LiveState,
    *,
    roles: Iterable[str] | None = None,
    key: KeySpec | None = None,
) -> list[dict]:
    """One chain per role × profile (only the key's profile when the key is bound to one)."""
    role_names = sorted(roles) if roles is not None else sorted(snapshot.roles | {DEFAULT_ROLE})
    profiles = profiles_of(snapshot)
    if key is not None and key.profile:
        profiles = [profile for profile in profiles if profile.name == key.profile]
    return [
        chain_for(snapshot, live, role=role, profile=profile, key=key) for role in role_names for profile in profiles
    ]


def chain_for(
    snapshot: RoutingSnapshot, live: LiveState, *, role: str, profile: ProfileSpec, key: KeySpec | None = None
) -> dict:
    chain: dict = {"role": role, "profile": profile.name, "candidates": [], "skipped": [], "error": None}
    access = Access(key)
    try:
        authorize(access, profile=profile.name, role=role, model=AUTO_MODEL, auto=True)
        selected = select_candidates(snapshot, model=AUTO_MODEL, role=role, profile=profile)
        candidates = permitted(access, selected)
    except PermissionDenied as error:
        chain["error"] = f"Refused for this key (403): {error.message}"
        chain["skipped"] = _skipped(snapshot, role, profile, [], key)
        return chain
    except GatewayError as error:
        chain["error"] = f"No model can serve (400): {error.message}"
        chain["skipped"] = _skipped(snapshot, role, profile, [], key)
        return chain
    ordered = _circuit_order(candidates, live)
    for step, candidate in enumerate(ordered, start=1):
        chain["candidates"].append({
            "step": step,
            "model": candidate.model.public_id,
            "provider": candidate.provider.name,
            "tier": candidate.provider.tier,
            "kind": _kind(candidate),
            "circuit": _circuit_state(live, candidate.provider.name),
            "reason": step_reason(candidate, live),
        })
    chain["skipped"] = _skipped(snapshot, role, profile, [c.model.public_id for c in ordered], key)
    return chain


def step_reason(candidate: Candidate, live: LiveState) -> str:
    """Why this candidate is tried at this step, in words."""
    # The selection's own words (routing.selection.Candidate.reason): the same sentence a request carries in
    # X-Gateway-Route-Reason, so the preview and the requests never explain one choice two ways.
    parts = [candidate.reason]
    state = _circuit_state(live, candidate.provider.name)
    if state == "open":
        retry = live.circuits[candidate.provider.name].get("retry_in_seconds")
        parts.append(f"circuit open for provider '{candidate.provider.name}' (retry in {retry}s): tried only as a "
                     "last resort")
    elif state == "half_open":
        parts.append(f"circuit half-open for provider '{candidate.provider.name}': one trial request allowed")
    quota = live.quota
    if quota and quota.get("provider") == candidate.provider.name:
        if quota.get("exhausted"):
            parts.append(f"monthly quota of {quota.get('monthly_tokens')} tokens is used up")
        else:
            parts.append(f"quota left this month: {quota.get('remaining')} of {quota.get('monthly_tokens')} tokens")
    return "; ".join(parts)


def _kind(candidate: Candidate) -> str:
    kind = getattr(candidate, "kind", None) or getattr(candidate, "reason", "")
    return kind if kind in KIND_WORDS else "fallback"


def _circuit_state(live: LiveState, provider: str) -> str:
    return str(live.circuits.get(provider, {}).get("state", "closed"))


def _circuit_order(candidates: list[Candidate], live: LiveState) -> list[Candidate]:
    """As dispatch tries them: providers whose circuit is open go after the others, order kept."""
    held = [c for c in candidates if _circuit_state(live, c.provider.name) == "open"]
    return [c for c in candidates if c not in held] + held


def _skipped(
    snapshot: RoutingSnapshot, role: str, profile: ProfileSpec, chosen: list[str], key: KeySpec | None
) -> list[dict]:
    ranking = snapshot.rankings.get(role) or snapshot.rankings.get(DEFAULT_ROLE) or ()
    skipped = []
    for entry in ranking:
        if entry.model in chosen:
            continue
        spec = snapshot.models.get(entry.model)
        if spec is None:
            reason = "no such model"
        else:
            reason = unusable_reason(snapshot, spec, profile, frozenset())
            if reason is None and key is not None and not key.allows_model(entry.model):
                reason = f"key {key.prefix}… may not use this model"
        skipped.append({"model": entry.model, "reason": reason or "not selected"})
    return skipped
