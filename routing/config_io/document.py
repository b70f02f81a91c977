"""The routing document (data/model_routing.json): its shape and whole-document validation.

Every error names its path (``models[3].provider: unknown provider 'x'``). The document is
self-contained: models name providers of the same document, rankings and fallbacks name models of it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from routing.aliases import pattern_problem, target_problem
from routing.models import (
    Provider,
    RankingEntry,
    RoleName,
    env_var_name,
    provider_name,
)

FORMAT_VERSION = 1
CANONICAL_ROLES: tuple[str, ...] = tuple(RoleName.values)
CAPABILITIES: tuple[str, ...] = ("json", "tools", "vision")
MODEL_KINDS: tuple[str, ...] = ("chat", "embedding")
PROVIDER_KINDS: tuple[str, ...] = tuple(Provider.Kind.values)
TIERS: tuple[str, ...] = tuple(Provider.Tier.values)
ROLE_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
PRICE_MAX_INTEGER_DIGITS = 6  # DecimalField(max_digits=12, decimal_places=6)
PRICE_DECIMAL_PLACES = 6
TOKENS_MAX = 2**31 - 1  # a token count the models store (context window, monthly quota): a PositiveIntegerField


def _is_token_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= TOKENS_MAX


def default_routing_path() -> Path:
    return Path(settings.BASE_DIR) / "data" / "model_routing.json"


class ConfigError(ValueError):
    """A configuration document is invalid; `problems` lists every error as ``path: message``."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = f"{len(self.problems)} problems: " + "; ".join(self.problems)
        super().__init__(message)


@dataclass
class ImportSummary:
    """What an import did, counted per kind of row (providers, models, roles, profiles, strategies...)."""

    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)
    deleted: Counter[str] = field(default_factory=Counter)

    def record(self, kind: str, status: str) -> None:
        getattr(self, status)[kind] += 1

    @property
    def changed(self) -> bool:
        return bool(+self.created or +self.updated or +self.deleted)

    def __str__(self) -> str:
        kinds = list(dict.fromkeys([*self.created, *self.updated, *self.unchanged, *self.deleted]))
        parts = []
        for kind in kinds:
            counts = [
                f"{self.created[kind]} created" if self.created[kind] else "",
                f"{self.updated[kind]} updated" if self.updated[kind] else "",
                f"{self.unchanged[kind]} unchanged" if self.unchanged[kind] else "",
                f"{self.deleted[kind]} deleted" if self.deleted[kind] else "",
            ]
            parts.append(f"{kind}: " + ", ".join(count for count in counts if count))
        return "; ".join(parts) if parts else "nothing to import"


def role_sort_key(name: str) -> tuple[int, int, str]:
    """The eight design roles in their canonical order, then any others alphabetically."""
    if name in CANONICAL_ROLES:
        return (0, CANONICAL_ROLES.index(name), name)
    return (1, 0, name)


def format_price(value: Decimal) -> str:
    """`Decimal('3.000000')` → ``"3"``, `Decimal('0.15')` → ``"0.15"``: no exponent, no trailing zeros."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


# --- The parsed document ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderDoc:
    name: str
    kind: str
    base_url: str
    api_key_env: str
    tier: str
    timeout_seconds: float
    enabled: bool
    notes: str
    monthly_token_quota: int | None = None  # written only when set: documents without quotas stay byte-stable


@dataclass(frozen=True)
class ModelDoc:
    id: str
    provider: str
    upstream: str
    context_window: int
    input_price_per_mtok: Decimal
    output_price_per_mtok: Decimal
    capabilities: tuple[str, ...]
    enabled: bool
    fallbacks: tuple[str, ...]
    kind: str = "chat"  # written only when not chat: documents without embedding models stay byte-stable


@dataclass(frozen=True)
class RankDoc:
    model: str
    reason: str
    pinned: bool = False  # written only when true: documents without pins stay byte-stable


@dataclass(frozen=True)
class RoleDoc:
    name: str
    description: str
    primary: RankDoc
    fallbacks: tuple[RankDoc, ...]
    free_tier: tuple[RankDoc, ...]

    def ranking(self) -> list[tuple[str, RankDoc]]:
        """(kind, entry) in ranking order: primary, fallbacks, free-tier alternatives."""
        return [
            (RankingEntry.Kind.PRIMARY, self.primary),
            *((RankingEntry.Kind.FALLBACK, entry) for entry in self.fallbacks),
            *((RankingEntry.Kind.FREE_TIER, entry) for entry in self.free_tier),
        ]


@dataclass(frozen=True)
class ProfileDoc:
    name: str
    description: str
    tiers: tuple[str, ...]
    providers: tuple[str, ...]


@dataclass(frozen=True)
class AliasDoc:
    pattern: str
    targets: tuple[str, ...]
    notes: str = ""


@dataclass(frozen=True)
class RoutingDoc:
    providers: tuple[ProviderDoc, ...]
    models: tuple[ModelDoc, ...]
    roles: tuple[RoleDoc, ...]
    profiles: tuple[ProfileDoc, ...]
    aliases: tuple[AliasDoc, ...] = ()

    def canonical(self) -> dict[str, Any]:
        """The document as plain data in canonical order (what `dumps_routing` writes)."""
        return {
            "version": FORMAT_VERSION,
            "providers": [
                {
                    "name": p.name,
                    "kind": p.kind,
                    "base_url": p.base_url,
                    "api_key_env": p.api_key_env,
                    "tier": p.tier,
                    "timeout_seconds": p.timeout_seconds,
                    "enabled": p.enabled,
                    "notes": p.notes,
                    **({"monthly_token_quota": p.monthly_token_quota} if p.monthly_token_quota is not None else {}),
                }
                for p in sorted(self.providers, key=lambda p: p.name)
            ],
            "models": [
                {
                    "id": m.id,
                    "provider": m.provider,
                    "upstream": m.upstream,
                    "context_window": m.context_window,
                    "input_price_per_mtok": format_price(m.input_price_per_mtok),
                    "output_price_per_mtok": format_price(m.output_price_per_mtok),
                    "capabilities": sorted(m.capabilities),
                    "enabled": m.enabled,
                    "fallbacks": list(m.fallbacks),
                    **({"kind": m.kind} if m.kind != "chat" else {}),
                }
                for m in sorted(self.models, key=lambda m: m.id)
            ],
            "roles": {
                r.name: {
                    "description": r.description,
                    "primary": _rank_dict(r.primary),
                    "fallbacks": [_rank_dict(entry) for entry in r.fallbacks],
                    "free_tier": [_rank_dict(entry) for entry in r.free_tier],
                }
                for r in sorted(self.roles, key=lambda r: role_sort_key(r.name))
            },
            "profiles": [
                {
                    "name": p.name,
                    "description": p.description,
                    "tiers": list(p.tiers),
                    "providers": sorted(p.providers),
                }
                for p in sorted(self.profiles, key=lambda p: p.name)
            ],
            # Written only when there are aliases: documents without them stay byte-stable.
            **({"aliases": [
                {"pattern": a.pattern, "targets": list(a.targets), **({"notes": a.notes} if a.notes else {})}
                for a in sorted(self.aliases, key=lambda a: a.pattern)
            ]} if self.aliases else {}),
        }


def _rank_dict(entry: RankDoc) -> dict[str, Any]:
    return {"model": entry.model, "reason": entry.reason, **({"pinned": True} if entry.pinned else {})}


# --- Validation ------------------------------------------------------------------------------------


class Checker:
    """Collects every problem with its path instead of stopping at the first; shared with prompts."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{path or '(document)'}: {message}")

    def raise_if_failed(self) -> None:
        if self.problems:
            raise ConfigError(self.problems)

    def mapping(self, value: Any, path: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict | None:
        """The value as a dict with its required keys, or None (problem recorded). Unknown keys are errors,
        so a typo such as 'fallback' for 'fallbacks' is reported instead of silently ignored."""
        if not isinstance(value, dict):
            self.fail(path, f"expected an object, got {_type_name(value)}")
            return None
        ok = True
        for key in required:
            if key not in value:
                self.fail(_join(path, key), "is required")
                ok = False
        for key in value:
            if key not in required and key not in optional:
                self.fail(_join(path, str(key)), "unknown field")
                ok = False
        return value if ok else None

    def list_of(self, value: Any, path: str) -> list:
        if not isinstance(value, list):
            self.fail(path, f"expected a list, got {_type_name(value)}")
            return []
        return value

    def string(
        self,
        value: Any,
        path: str,
        *,
        allow_empty: bool = True,
        max_length: int | None = None,
        single_line: bool = False,
    ) -> str | None:
        if not isinstance(value, str):
            self.fail(path, f"expected a string, got {_type_name(value)}")
            return None
        if not allow_empty and not value.strip():
            self.fail(path, "must not be empty")
            return None
        if max_length is not None and len(value) > max_length:
            self.fail(path, f"longer than {max_length} characters")
            return None
        if single_line and ("\n" in value or "\r" in value):
            self.fail(path, "must be a single line")
            return None
        return value

    def boolean(self, value: Any, path: str) -> bool | None:
        if not isinstance(value, bool):
            self.fail(path, f"expected true or false, got {_type_name(value)}")
            return None
        return value

    def choice(self, value: Any, path: str, choices: tuple[str, ...], what: str) -> str | None:
        if not isinstance(value, str) or value not in choices:
            self.fail(path, f"unknown {what} {value!r} (expected one of: {', '.join(choices)})")
            return None
        return value

    def regex(self, value: Any, path: str, validator, *, max_length: int) -> str | None:
        text = self.string(value, path, allow_empty=False, max_length=max_length)
        if text is None:
            return None
        try:
            validator(text)
        except ValidationError as exc:
            self.fail(path, f"invalid value {text!r}: {' '.join(exc.messages)}")
            return None
        return text


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _price(check: Checker, value: Any, path: str) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        check.fail(path, f'expected a decimal string such as "2.5", got {_type_name(value)}')
        return None
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation:
        check.fail(path, f"not a decimal number: {value!r}")
        return None
    if not price.is_finite() or price < 0:
        check.fail(path, f"must be a non-negative number, got {value!r}")
        return None
    exponent = price.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -PRICE_DECIMAL_PLACES:
        check.fail(path, f"at most {PRICE_DECIMAL_PLACES} decimal places, got {value!r}")
        return None
    if price >= Decimal(10) ** PRICE_MAX_INTEGER_DIGITS:
        check.fail(path, f"too large: {value!r}")
        return None
    return price


def _unique_name(check: Checker, seen: set[str], name: str | None, path: str, what: str) -> None:
    if name is None:
        return
    if name in seen:
        check.fail(path, f"duplicate {what} {name!r}")
    seen.add(name)


def parse_routing(data: Any) -> RoutingDoc:
    """Validate a whole routing document; raise ConfigError listing every problem with its path."""
    check = Checker()
    top = check.mapping(data, "", ("version", "providers", "models", "roles", "profiles"), ("aliases",))
    if top is None:
        raise ConfigError(check.problems)
    version = top["version"]
    if isinstance(version, bool) or version != FORMAT_VERSION:
        check.fail("version", f"unsupported version {version!r} (expected {FORMAT_VERSION})")

    providers = _parse_providers(check, top["providers"])
    provider_names = {p.name for p in providers}
    models = _parse_models(check, top["models"], provider_names)
    model_ids = {m.id for m in models}
    roles = _parse_roles(check, top["roles"], model_ids)
    profiles = _parse_profiles(check, top["profiles"], provider_names)
    roles_known = {r.name for r in roles} | set(CANONICAL_ROLES)
    aliases = _parse_aliases(check, top.get("aliases", []), model_ids, provider_names, roles_known)
    check.raise_if_failed()
    return RoutingDoc(tuple(providers), tuple(models), tuple(roles), tuple(profiles), tuple(aliases))


def _parse_aliases(
    check: Checker, value: Any, model_ids: set[str], provider_names: set[str], roles: set[str]
) -> list[AliasDoc]:
    result: list[AliasDoc] = []
    seen: set[str] = set()
    for index, item in enumerate(check.list_of(value, "aliases")):
        path = f"aliases[{index}]"
        row = check.mapping(item, path, ("pattern", "targets"), ("notes",))
        if row is None:
            continue
        before = len(check.problems)
        pattern = check.string(row["pattern"], f"{path}.pattern", allow_empty=False, max_length=200)
        if pattern is not None:
            if problem := pattern_problem(pattern):
                check.fail(f"{path}.pattern", problem)
            elif pattern in model_ids:
                check.fail(f"{path}.pattern", f"model {pattern!r} exists: the model always wins over an alias")
        _unique_name(check, seen, pattern, f"{path}.pattern", "alias pattern")
        targets: list[str] = []
        for t_index, target in enumerate(check.list_of(row["targets"], f"{path}.targets")):
            t_path = f"{path}.targets[{t_index}]"
            if check.string(target, t_path, allow_empty=False, max_length=200) is None:
                continue
            if problem := target_problem(target, model_ids=model_ids, provider_names=provider_names, roles=roles):
                check.fail(t_path, problem)
            elif target in targets:
                check.fail(t_path, f"duplicate target {target!r}")
            else:
                targets.append(target)
        if isinstance(row["targets"], list) and not row["targets"]:
            check.fail(f"{path}.targets", "list at least one target")
        notes = check.string(row.get("notes", ""), f"{path}.notes")
        if len(check.problems) == before:
            result.append(AliasDoc(pattern, tuple(targets), notes))
    return result


def _parse_providers(check: Checker, value: Any) -> list[ProviderDoc]:
    url = URLValidator(schemes=["http", "https"])
    result: list[ProviderDoc] = []
    seen: set[str] = set()
    for index, item in enumerate(check.list_of(value, "providers")):
        path = f"providers[{index}]"
        row = check.mapping(
            item,
            path,
            ("name", "kind", "base_url", "tier"),
            ("api_key_env", "timeout_seconds", "enabled", "notes", "monthly_token_quota"),
        )
        if row is None:
            continue
        before = len(check.problems)
        name = check.regex(row["name"], f"{path}.name", provider_name, max_length=64)
        _unique_name(check, seen, name, f"{path}.name", "provider")
        kind = check.choice(row["kind"], f"{path}.kind", PROVIDER_KINDS, "kind")
        base_url = check.regex(row["base_url"], f"{path}.base_url", url, max_length=500)
        tier = check.choice(row["tier"], f"{path}.tier", TIERS, "tier")
        api_key_env = row.get("api_key_env", "")
        if api_key_env != "":
            api_key_env = check.regex(api_key_env, f"{path}.api_key_env", env_var_name, max_length=128)
        timeout = row.get("timeout_seconds", 120.0)
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
            check.fail(f"{path}.timeout_seconds", f"expected a positive number of seconds, got {timeout!r}")
        enabled = check.boolean(row.get("enabled", True), f"{path}.enabled")
        notes = check.string(row.get("notes", ""), f"{path}.notes")
        quota = row.get("monthly_token_quota")
        if quota is not None and not _is_token_count(quota):
            check.fail(f"{path}.monthly_token_quota", f"expected a whole number of tokens (0 to {TOKENS_MAX}) or null, "
                       f"got {quota!r}")
        if len(check.problems) == before:
            result.append(ProviderDoc(name, kind, base_url, api_key_env, tier, float(timeout), enabled, notes, quota))
        elif name is not None:
            result.append(ProviderDoc(name, "", "", "", "", 0.0, False, ""))  # keeps references resolvable
    return result


def _parse_models(check: Checker, value: Any, provider_names: set[str]) -> list[ModelDoc]:
    items = check.list_of(value, "models")
    declared = {item["id"] for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)}
    result: list[ModelDoc] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        path = f"models[{index}]"
        row = check.mapping(
            item,
            path,
            ("id", "provider", "upstream"),
            (
                "context_window",
                "input_price_per_mtok",
                "output_price_per_mtok",
                "capabilities",
                "enabled",
                "fallbacks",
                "kind",
            ),
        )
        if row is None:
            continue
        before = len(check.problems)
        model_id = check.string(row["id"], f"{path}.id", allow_empty=False, max_length=200, single_line=True)
        if model_id is not None and model_id != model_id.strip():
            check.fail(f"{path}.id", f"leading or trailing whitespace in {model_id!r}")
        _unique_name(check, seen, model_id, f"{path}.id", "model id")
        provider = row["provider"]
        if not isinstance(provider, str) or provider not in provider_names:
            check.fail(f"{path}.provider", f"unknown provider {provider!r}")
        upstream = check.string(
            row["upstream"], f"{path}.upstream", allow_empty=False, max_length=200, single_line=True
        )
        context_window = row.get("context_window", 0)
        if not _is_token_count(context_window):
            check.fail(f"{path}.context_window", f"expected a whole number of tokens >= 0, got {context_window!r}")
        input_price = _price(check, row.get("input_price_per_mtok", "0"), f"{path}.input_price_per_mtok")
        output_price = _price(check, row.get("output_price_per_mtok", "0"), f"{path}.output_price_per_mtok")
        capabilities: list[str] = []
        for cap_index, cap in enumerate(check.list_of(row.get("capabilities", []), f"{path}.capabilities")):
            cap_path = f"{path}.capabilities[{cap_index}]"
            if check.choice(cap, cap_path, CAPABILITIES, "capability") is None:
                continue
            if cap in capabilities:
                check.fail(cap_path, f"duplicate capability {cap!r}")
            capabilities.append(cap)
        enabled = check.boolean(row.get("enabled", True), f"{path}.enabled")
        kind = check.choice(row.get("kind", "chat"), f"{path}.kind", MODEL_KINDS, "model kind")
        fallbacks: list[str] = []
        for fb_index, fallback in enumerate(check.list_of(row.get("fallbacks", []), f"{path}.fallbacks")):
            fb_path = f"{path}.fallbacks[{fb_index}]"
            if not isinstance(fallback, str) or fallback not in declared:
                check.fail(fb_path, f"unknown model {fallback!r}")
            elif fallback == model_id:
                check.fail(fb_path, "a model cannot be its own fallback")
            elif fallback in fallbacks:
                check.fail(fb_path, f"duplicate fallback {fallback!r}")
            else:
                fallbacks.append(fallback)
        if len(check.problems) == before:
            result.append(
                ModelDoc(
                    model_id,
                    provider,
                    upstream,
                    context_window,
                    input_price,
                    output_price,
                    tuple(capabilities),
                    enabled,
                    tuple(fallbacks),
                    kind or "chat",
                )
            )
        elif model_id is not None:
            result.append(ModelDoc(model_id, "", "", 0, Decimal(0), Decimal(0), (), False, ()))
    return result


def _parse_roles(check: Checker, value: Any, model_ids: set[str]) -> list[RoleDoc]:
    if not isinstance(value, dict):
        check.fail("roles", f"expected an object mapping role names to rankings, got {_type_name(value)}")
        return []
    result: list[RoleDoc] = []
    for name, item in value.items():
        path = f"roles.{name}"
        if not isinstance(name, str) or not ROLE_NAME_RE.match(name) or len(name) > 32:
            check.fail(path, "a role name is lower-case letters, digits and '_' (at most 32 characters)")
            continue
        row = check.mapping(item, path, ("primary",), ("description", "fallbacks", "free_tier"))
        if row is None:
            continue
        before = len(check.problems)
        description = check.string(row.get("description", ""), f"{path}.description")
        used: set[str] = set()
        primary = _parse_rank(check, row["primary"], f"{path}.primary", model_ids, used)
        fallbacks = [
            _parse_rank(check, entry, f"{path}.fallbacks[{index}]", model_ids, used)
            for index, entry in enumerate(check.list_of(row.get("fallbacks", []), f"{path}.fallbacks"))
        ]
        free_tier = [
            _parse_rank(check, entry, f"{path}.free_tier[{index}]", model_ids, used)
            for index, entry in enumerate(check.list_of(row.get("free_tier", []), f"{path}.free_tier"))
        ]
        if len(check.problems) == before:
            result.append(RoleDoc(name, description, primary, tuple(fallbacks), tuple(free_tier)))
    return result


def _parse_rank(check: Checker, value: Any, path: str, model_ids: set[str], used: set[str]) -> RankDoc | None:
    row = check.mapping(value, path, ("model",), ("reason", "pinned"))
    if row is None:
        return None
    model = row["model"]
    if not isinstance(model, str) or model not in model_ids:
        check.fail(f"{path}.model", f"unknown model {model!r}")
        return None
    if model in used:
        check.fail(f"{path}.model", f"model {model!r} is ranked twice in this role")
        return None
    used.add(model)
    reason = check.string(row.get("reason", ""), f"{path}.reason")
    pinned = row.get("pinned", False)
    if not isinstance(pinned, bool):
        check.fail(f"{path}.pinned", f"expected true or false, got {pinned!r}")
        return None
    return RankDoc(model, reason, pinned) if reason is not None else None


def _parse_profiles(check: Checker, value: Any, provider_names: set[str]) -> list[ProfileDoc]:
    result: list[ProfileDoc] = []
    seen: set[str] = set()
    for index, item in enumerate(check.list_of(value, "profiles")):
        path = f"profiles[{index}]"
        row = check.mapping(item, path, ("name", "tiers"), ("description", "providers"))
        if row is None:
            continue
        before = len(check.problems)
        name = check.regex(row["name"], f"{path}.name", provider_name, max_length=64)
        _unique_name(check, seen, name, f"{path}.name", "profile")
        description = check.string(row.get("description", ""), f"{path}.description")
        tiers: list[str] = []
        for tier_index, tier in enumerate(check.list_of(row["tiers"], f"{path}.tiers")):
            tier_path = f"{path}.tiers[{tier_index}]"
            if check.choice(tier, tier_path, TIERS, "tier") is None:
                continue
            if tier in tiers:
                check.fail(tier_path, f"duplicate tier {tier!r}")
            tiers.append(tier)
        if isinstance(row["tiers"], list) and not row["tiers"]:
            check.fail(f"{path}.tiers", "list at least one tier")
        providers: list[str] = []
        for p_index, provider in enumerate(check.list_of(row.get("providers", []), f"{path}.providers")):
            p_path = f"{path}.providers[{p_index}]"
            if not isinstance(provider, str) or provider not in provider_names:
                check.fail(p_path, f"unknown provider {provider!r}")
            elif provider in providers:
                check.fail(p_path, f"duplicate provider {provider!r}")
            else:
                providers.append(provider)
        if len(check.problems) == before:
            result.append(ProfileDoc(name, description, tuple(tiers), tuple(providers)))
    return result


# --- Export / dumps --------------------------------------------------------------------------------
