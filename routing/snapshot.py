"""An immutable, in-memory picture of the routing configuration.

The request path never queries the ORM: it reads the current snapshot, kept fresh by a
`core.snapshots.SnapshotHolder` (routing.state).
"""

from __future__ import annotations

from dataclasses import dataclass

from providers.specs import ModelSpec, ProviderSpec
from routing.aliases import AliasSpec


@dataclass(frozen=True, slots=True)
class RankedModel:
    model: str
    kind: str  # primary | fallback | free_tier
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ProfileSpec:
    name: str
    tiers: tuple[str, ...]  # allowed tiers, most preferred first
    providers: frozenset[str] = frozenset()  # empty: every provider of an allowed tier

    def allows(self, provider: ProviderSpec) -> bool:
        if provider.tier not in self.tiers:
            return False
        return not self.providers or provider.name in self.providers


@dataclass(frozen=True, slots=True)
class RoutingSnapshot:
    providers: dict[str, ProviderSpec]
    models: dict[str, ModelSpec]
    rankings: dict[str, tuple[RankedModel, ...]]
    profiles: dict[str, ProfileSpec]
    roles: frozenset[str]
    default_profile: str
    supported_kinds: frozenset[str]
    built_at: float = 0.0
    aliases: tuple[AliasSpec, ...] = ()  # in resolution order (routing.aliases.ordered)
