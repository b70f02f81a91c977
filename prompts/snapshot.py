"""What the request path reads of the prompts app: an immutable snapshot, rebuilt when a row changes."""

from __future__ import annotations

from dataclasses import dataclass, field

from prompts.detection.fast_path import CompiledRules
from prompts.strategies import Strategy


@dataclass(frozen=True, slots=True)
class PromptSnapshot:
    strategies: dict[str, Strategy] = field(default_factory=dict)  # by role; only enabled, placement not off
    rules: CompiledRules | None = None  # the admin's detection table; None: the shipped one
    off_profiles: frozenset[str] = frozenset()
    off_keys: frozenset[str] = frozenset()  # key prefixes
