"""Model aliases: other names for a model, for `auto` / `auto:<role>`, or for a provider's own model. Pure.

Agents send the model ids they were built for (Claude Code: `claude-opus-5-5` and a small-fast
`claude-haiku-5-5`; others `gpt-5...`). An alias maps such an id, exactly or by a glob (`*` any run of
characters, `?` one), onto what this gateway serves. Its targets are tried in order, the first one
that can serve the request wins:

- a model id of the catalogue;
- `auto` (the role as the request's role step decided it) or `auto:<role>`;
- `<provider>/*`: the requested id itself on that provider (e.g. `anthropic/*`: `claude-opus-5-5`
  goes to Anthropic as `claude-opus-5-5`), usable only when that provider is (enabled, with a key).

An exact alias wins over globs; among globs the one with more literal characters wins
(`claude-*haiku*` over `claude-*`), then the alphabetically first. A model id of the catalogue is never
shadowed by an alias.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import translate

AUTO_MODEL = "auto"
PROVIDER_WILDCARD = "/*"
GLOB_CHARS = frozenset("*?[")
PATTERN_RE = re.compile(r"^[A-Za-z0-9*?._:/@-]{1,200}$")


@dataclass(frozen=True, slots=True)
class AliasSpec:
    pattern: str
    targets: tuple[str, ...]
    _regex: re.Pattern | None = field(default=None, compare=False, repr=False)

    @property
    def is_glob(self) -> bool:
        return self._regex is not None

    def matches(self, model_id: str) -> bool:
        return self._regex.fullmatch(model_id) is not None if self._regex is not None else model_id == self.pattern


def is_glob(pattern: str) -> bool:
    return bool(GLOB_CHARS & set(pattern))


def alias_spec(pattern: str, targets: Iterable[str]) -> AliasSpec:
    regex = re.compile(translate(pattern)) if is_glob(pattern) else None
    return AliasSpec(pattern, tuple(targets), regex)


def ordered(aliases: Iterable[AliasSpec]) -> tuple[AliasSpec, ...]:
    """Exact aliases first, then globs by how much of the id they pin down (literal characters)."""
    def key(alias: AliasSpec) -> tuple[int, int, str]:
        literal = sum(1 for char in alias.pattern if char not in GLOB_CHARS)
        return (1 if alias.is_glob else 0, -literal, alias.pattern)

    return tuple(sorted(aliases, key=key))


def find_alias(aliases: tuple[AliasSpec, ...], model_id: str) -> AliasSpec | None:
    """The alias (from `ordered`) that `model_id` resolves through, if any."""
    return next((alias for alias in aliases if alias.matches(model_id)), None)


def resolve_target(target: str, requested: str) -> str:
    """The model id a target names for this request (`anthropic/*` + `claude-x` → `anthropic/claude-x`)."""
    return target[:-1] + requested if target.endswith(PROVIDER_WILDCARD) else target


def pattern_problem(pattern: str) -> str | None:
    if not PATTERN_RE.match(pattern):
        return "letters, digits, '.', '_', ':', '/', '@', '-' and the globs '*' and '?' only (at most 200)"
    if pattern == AUTO_MODEL or pattern.startswith(f"{AUTO_MODEL}:"):
        return "'auto' routes cannot be aliased"
    return None


def target_problem(target: str, *, model_ids: Iterable[str], provider_names: Iterable[str],
                   roles: Iterable[str]) -> str | None:
    """Why `target` cannot be an alias target, or None."""
    if target == AUTO_MODEL:
        return None
    if target.startswith(f"{AUTO_MODEL}:"):
        role = target.partition(":")[2]
        return None if role in set(roles) else f"unknown role {role!r}"
    if target.endswith(PROVIDER_WILDCARD):
        provider = target[: -len(PROVIDER_WILDCARD)]
        return None if provider in set(provider_names) else f"unknown provider {provider!r}"
    if target in set(model_ids):
        return None
    return f"unknown model {target!r} (a target is a model id, 'auto', 'auto:<role>' or '<provider>/*')"
