"""Behaviour knobs: defaults, per-model overrides and the `fail_times` bookkeeping.

Everything here runs on the server's event-loop thread, so it needs no locks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MODES = frozenset({
    "normal", "hang", "drop", "drop_mid_stream", "truncate_stream", "empty_200", "error_in_200",
    "reset", "reset_mid_stream", "garbage_mid_stream", "oversize",
})

DEFAULT_KNOBS: dict[str, Any] = {
    "latency_ms": 0,  # delay before the response headers
    "chunks": 5,  # content deltas per streamed reply
    "chunk_delay_ms": 0,  # pause before each streamed delta
    "status": 200,  # non-200 => OpenAI-shaped error body with this status
    "error_body": None,  # overrides the error body (status != 200 or mode error_in_200)
    "fail_times": None,  # None: the failure always applies; N: only the first N matching requests
    "mode": "normal",
    "headers": None,  # extra response headers {name: value}, e.g. a `location` for a 3xx status
    "oversize_bytes": 65 * 1024 * 1024,  # length of the reply text in mode `oversize`
    "cut_after_events": None,  # None: a whole stream; N: only the first N SSE events, then a clean end
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_header(name: Any, value: Any) -> bool:
    """A header the mock can send as is: a token name, a value without line breaks (no injection)."""
    return (
        isinstance(name, str) and isinstance(value, str) and bool(name) and name.isascii() and value.isascii()
        and not any(c in name for c in " \t\r\n:") and "\r" not in value and "\n" not in value
    )


def validate_knobs(knobs: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of `knobs`; raises ValueError naming the first bad knob or value."""
    if not isinstance(knobs, Mapping):
        raise ValueError("knobs must be an object")
    for key, value in knobs.items():
        if key not in DEFAULT_KNOBS:
            raise ValueError(f"unknown knob {key!r}; known: {', '.join(DEFAULT_KNOBS)}")
        if key == "mode":
            ok = value in MODES
        elif key in ("latency_ms", "chunk_delay_ms"):
            ok = _is_number(value) and value >= 0
        elif key == "chunks":
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        elif key == "status":
            ok = isinstance(value, int) and not isinstance(value, bool) and 200 <= value <= 599
        elif key in ("fail_times", "cut_after_events"):
            ok = value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)
        elif key == "oversize_bytes":
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        elif key == "headers":
            ok = value is None or (isinstance(value, Mapping) and all(_is_header(n, v) for n, v in value.items()))
        else:  # error_body: any JSON value, or a raw string
            ok = True
        if not ok:
            allowed = f" (one of {', '.join(sorted(MODES))})" if key == "mode" else ""
            raise ValueError(f"bad value for knob {key!r}: {value!r}{allowed}")
    return dict(knobs)


def is_failure(knobs: Mapping[str, Any]) -> bool:
    return knobs["status"] != 200 or knobs["mode"] != "normal" or knobs["cut_after_events"] is not None


class MockConfig:
    """Default knobs plus per-upstream-model overrides, as set at start and by `/_mock/config`."""

    def __init__(self, defaults: Mapping[str, Any] | None = None, models: Mapping[str, Any] | None = None):
        self._initial_default = {**DEFAULT_KNOBS, **validate_knobs(defaults or {})}
        self._initial_models = {name: validate_knobs(k) for name, k in (models or {}).items()}
        self.reset()

    def reset(self) -> None:
        self.default: dict[str, Any] = dict(self._initial_default)
        self.models: dict[str, dict[str, Any]] = {n: dict(k) for n, k in self._initial_models.items()}
        # failures served so far, per scope: None = the default knobs, else a model name
        self._failures: dict[str | None, int] = {}

    def update(self, default: Mapping[str, Any] | None = None, models: Mapping[str, Any] | None = None) -> None:
        """Merge knobs in; a model mapped to None loses its override. Touching a scope re-arms fail_times.

        Validates everything before changing anything, so a bad request leaves the config as it was.
        """
        new_default = validate_knobs(default or {})
        if models is not None and not isinstance(models, Mapping):
            raise ValueError("'models' must be an object mapping model name to knobs")
        new_models = {n: None if k is None else validate_knobs(k) for n, k in (models or {}).items()}
        if new_default:
            self.default.update(new_default)
            self._failures.pop(None, None)
        for name, knobs in new_models.items():
            if knobs is None:
                self.models.pop(name, None)
            else:
                self.models.setdefault(name, {}).update(knobs)
            self._failures.pop(name, None)

    def resolve(self, model: str | None) -> dict[str, Any]:
        """Knobs for one chat request; consumes one `fail_times` slot when the request is made to fail.

        The counter lives where `fail_times` is set: on the model's override, else shared by
        every request that falls back on the defaults. Callers must not mutate the result.
        """
        override = self.models.get(model) if model is not None else None
        knobs = {**self.default, **override} if override else self.default
        limit = knobs["fail_times"]
        if limit is None or not is_failure(knobs):
            return knobs
        scope = model if override and "fail_times" in override else None
        served = self._failures.get(scope, 0)
        if served < limit:
            self._failures[scope] = served + 1
            return knobs
        return {**knobs, "status": 200, "mode": "normal"}

    def snapshot(self) -> dict[str, Any]:
        return {"default": dict(self.default), "models": {n: dict(k) for n, k in self.models.items()}}
