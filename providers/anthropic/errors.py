"""Anthropic's failures, mapped onto the gateway's one `ProviderError`.

The translators raise the small exceptions below (they know nothing of providers); the provider
turns them into `ProviderError`s with its name. HTTP statuses follow the contract in `base.py`:
429 and 5xx (Anthropic's 529 `overloaded_error` included) and 401/403 are retryable, other 4xx are
the upstream's refusal, passed on with its status and message.
"""

from __future__ import annotations

import orjson

from providers.base import ProviderError
from providers.specs import ProviderSpec


class UnsupportedFeature(Exception):
    """The OpenAI request uses something the Messages API cannot express (`feature` names it)."""

    def __init__(self, feature: str) -> None:
        super().__init__(feature)
        self.feature = feature


class MalformedResponse(Exception):
    """Anthropic answered 200 with something that is not a Messages answer or event."""


class AnthropicAPIError(Exception):
    """An `{"type": "error", "error": {...}}` body, or an `error` event inside a stream."""

    def __init__(self, error_type: str, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.request_id = request_id


def unsupported(spec: ProviderSpec, feature: str) -> ProviderError:
    """Raised before any network call: the dispatcher moves on to the next candidate."""
    return ProviderError(
        f"{feature} is not supported by provider '{spec.name}' ({spec.kind})", retryable=True, status=400,
        error_type="invalid_request_error", code="unsupported_feature",
    )


def parse_error_body(raw: bytes) -> AnthropicAPIError | None:
    """The error inside an Anthropic error body, or None when the body is not one."""
    try:
        data = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None
    return error_from_dict(data)


def error_from_dict(data: object) -> AnthropicAPIError | None:
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None
    request_id = data.get("request_id")
    return AnthropicAPIError(
        str(error.get("type") or "api_error"), str(error.get("message") or "")[:1000],
        request_id if isinstance(request_id, str) else None,
    )


def status_error(
    spec: ProviderSpec, status: int, raw: bytes, retry_after: str | None, redact
) -> ProviderError:
    """The ProviderError for a non-200 answer carrying Anthropic's error body `raw`."""
    name = spec.name
    parsed = parse_error_body(raw)
    if parsed is not None:
        message, error_type = parsed.message, parsed.error_type
        suffix = f" (request {parsed.request_id})" if parsed.request_id else ""
    else:
        message, error_type, suffix = raw[:300].decode("utf-8", "replace").strip(), None, ""
    detail = f": {redact(message)}{suffix}" if message else suffix
    if status in (401, 403):
        # The provider refused the gateway's own key: the client's request was fine, so never a 401.
        return ProviderError(
            f"Provider '{name}' rejected the gateway's credentials ({status}). Check its API key variable.",
            retryable=True, status=502, upstream_status=status, code="upstream_auth_failed",
        )
    if status == 429:
        return ProviderError(
            f"Provider '{name}' is rate limiting requests{detail}", retryable=True, status=429,
            upstream_status=status, error_type="rate_limit_error", code="upstream_rate_limited",
            retry_after=retry_after,
        )
    if status >= 500 or status == 408:
        return ProviderError(
            f"Provider '{name}' failed with {status}{detail}", retryable=True, status=502,
            upstream_status=status, code=error_type or "upstream_server_error", retry_after=retry_after,
        )
    return ProviderError(
        f"Provider '{name}' refused the request ({status}){detail}", retryable=False,
        status=status if 400 <= status < 500 else 502, upstream_status=status,
        error_type="invalid_request_error", code=error_type,
    )


# Error types that blame the request itself: another candidate would not do better.
_CLIENT_FAULT_TYPES = frozenset({"invalid_request_error", "not_found_error", "request_too_large", "permission_error"})


def event_error(spec: ProviderSpec, error: AnthropicAPIError, redact) -> ProviderError:
    """An `error` event mid-stream (e.g. `overloaded_error`): retryable unless it blames the request."""
    retryable = error.error_type not in _CLIENT_FAULT_TYPES
    rate_limited = error.error_type == "rate_limit_error"
    return ProviderError(
        f"Provider '{spec.name}' reported an error mid-stream ({error.error_type}): {redact(error.message)}",
        retryable=retryable, status=429 if rate_limited else 502,
        error_type="rate_limit_error" if rate_limited else "upstream_error", code=error.error_type,
    )


def malformed(spec: ProviderSpec, what: str, code: str = "upstream_bad_response") -> ProviderError:
    return ProviderError(f"Provider '{spec.name}' {what}", retryable=True, code=code)
