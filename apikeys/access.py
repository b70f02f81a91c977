"""Who is calling, and what they may do: authentication and authorization on the hot path. Pure.

A key snapshot (built off the event loop, see `apikeys.selectors`) and the request's headers in;
an `Access` out, or a 401 / 403 in OpenAI's error shape.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from ipaddress import ip_address

from apikeys.keyformat import digest, prefix_of
from core.errors import GatewayError
from routing.selection import Candidate

# Compared against when no key matches, so an unknown key costs the same work as a wrong one.
_NO_MATCH_DIGEST = digest("gwk_no-such-key")


class AuthenticationFailed(GatewayError):
    status = 401
    code = "invalid_api_key"


class PermissionDenied(GatewayError):
    status = 403
    error_type = "permission_error"
    code = "permission_denied"


@dataclass(frozen=True, slots=True)
class KeySpec:
    prefix: str
    name: str
    digest: str = field(repr=False)
    profile: str = ""  # empty: any profile
    allowed_models: tuple[str, ...] = ()  # glob patterns; empty: every model
    allowed_roles: frozenset[str] = frozenset()  # empty: every role
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    monthly_budget: float | None = None
    is_admin: bool = False
    expires_at: float | None = None  # unix seconds
    revoked: bool = False

    @property
    def is_limited(self) -> bool:
        return bool(self.rpm_limit or self.tpm_limit) or self.monthly_budget is not None

    def allows_model(self, model_id: str) -> bool:
        return not self.allowed_models or any(fnmatchcase(model_id, pattern) for pattern in self.allowed_models)


@dataclass(frozen=True, slots=True)
class KeySnapshot:
    keys: dict[str, KeySpec]  # by prefix
    spend_month: str = ""  # "YYYY-MM" the spend figures are for
    spend: dict[str, float] = field(default_factory=dict)  # committed spend this month, budgeted keys only


@dataclass(frozen=True, slots=True)
class Access:
    key: KeySpec | None  # None: anonymous, local single-user mode
    playground_user: str = ""  # set when a staff member calls from the admin's playground (apikeys.playground)

    @property
    def prefix(self) -> str:
        return self.key.prefix if self.key else ""

    @property
    def is_admin(self) -> bool:
        return self.key is None or self.key.is_admin


ANONYMOUS = Access(None)


def presented_key(headers: Mapping[str, str]) -> str | None:
    """`Authorization: Bearer <key>` (OpenAI clients) or `x-api-key: <key>` (Anthropic clients)."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        return value.strip() if scheme.lower() == "bearer" else authorization.strip()
    api_key = headers.get("x-api-key")
    return api_key.strip() if api_key else None


def is_loopback(host: str | None) -> bool:
    try:
        return bool(host) and ip_address(host).is_loopback
    except ValueError:
        return False


def authenticate(
    snapshot: KeySnapshot, presented: str | None, *, anonymous_allowed: bool, now: float
) -> Access:
    """The caller's access, or AuthenticationFailed (401).

    `anonymous_allowed` (local mode, loopback client): a missing key, or any value that is not shaped
    like a gateway key (agents that insist on *some* key), is the anonymous user; a gateway key is
    still checked, so its limits apply.
    """
    prefix = prefix_of(presented) if presented else None
    if anonymous_allowed and prefix is None:
        return ANONYMOUS
    if not presented:
        raise AuthenticationFailed(
            "Missing API key: send your gateway key as 'Authorization: Bearer <key>' (or 'x-api-key: <key>')."
        )
    spec = snapshot.keys.get(prefix) if prefix else None
    matches = hmac.compare_digest(digest(presented), spec.digest if spec else _NO_MATCH_DIGEST)
    if spec is None or not matches:
        raise AuthenticationFailed("Invalid API key.")
    if spec.revoked:
        raise AuthenticationFailed(f"The API key {spec.prefix}… has been revoked.")
    if spec.expires_at is not None and spec.expires_at <= now:
        raise AuthenticationFailed(f"The API key {spec.prefix}… has expired.")
    return Access(spec)


def authorize(access: Access, *, profile: str | None, role: str | None, model: str, auto: bool) -> str | None:
    """Check what the request asks for against the key; returns the profile to route with (403 otherwise).
    `role` None: the request has no role (embeddings), so the key's allowed roles do not apply."""
    key = access.key
    if key is None:
        return profile
    if key.profile:
        if profile is not None and profile != key.profile:
            raise PermissionDenied(
                f"This key may only use the profile '{key.profile}', not '{profile}'.",
                param="profile", code="profile_not_allowed",
            )
        profile = key.profile
    if role is not None and key.allowed_roles and role not in key.allowed_roles:
        raise PermissionDenied(
            f"This key may not use the role '{role}' (allowed: {', '.join(sorted(key.allowed_roles))}).",
            param="role", code="role_not_allowed",
        )
    if not auto and not key.allows_model(model):
        raise PermissionDenied(f"This key may not use the model '{model}'.", param="model", code="model_not_allowed")
    return profile


def permitted(access: Access, candidates: Sequence[Candidate]) -> list[Candidate]:
    """The candidates (ranking entries, fallbacks) the key may use; 403 when none is left."""
    key = access.key
    if key is None or not key.allowed_models:
        return list(candidates)
    allowed = [candidate for candidate in candidates if key.allows_model(candidate.model.public_id)]
    if not allowed:
        raise PermissionDenied(
            "None of the models that could serve this request is allowed for this key.",
            param="model", code="model_not_allowed",
        )
    return allowed
