"""What the gateway keeps and adds for a profile, as the request path reads it (from an in-memory snapshot)."""

from __future__ import annotations

from dataclasses import dataclass, field

KEY_PROFILE, KEY, PROFILE = "key_profile", "key", "profile"
SCOPES = (KEY_PROFILE, KEY, PROFILE)


@dataclass(frozen=True, slots=True)
class Policy:
    store: bool = True
    history: bool = True
    similar: bool = True
    similar_scope: str = KEY_PROFILE
    similar_top_k: int = 3
    similar_min_score: float = 0.3

    @property
    def reads(self) -> bool:
        """Whether a request with a conversation id needs the stored conversation at all."""
        return self.store or self.history or self.similar


@dataclass(frozen=True, slots=True)
class Policies:
    by_profile: dict[str, Policy] = field(default_factory=dict)
    default: Policy = Policy()
    similar_off: frozenset[str] = frozenset()  # profiles whose default has similar interactions off

    def for_profile(self, profile: str) -> Policy:
        policy = self.by_profile.get(profile)
        if policy is not None:
            return policy
        if profile in self.similar_off:
            return Policy(self.default.store, self.default.history, False, self.default.similar_scope,
                          self.default.similar_top_k, self.default.similar_min_score)
        return self.default
