"""What request translators share: their one error, and reading a tool call's arguments."""

from __future__ import annotations

from typing import Any

import orjson


class TranslationError(Exception):
    """The request cannot be sent to this provider. `unsupported`: a feature the provider lacks (another
    provider may serve it); otherwise the request itself is wrong."""

    def __init__(self, message: str, *, unsupported: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.unsupported = unsupported


def tool_arguments(raw: Any) -> dict:
    """An OpenAI tool call's `arguments` (a JSON string, or already an object) as an object.

    Raises TranslationError when they are not a JSON object.
    """
    if isinstance(raw, dict):
        return raw
    if raw is None or isinstance(raw, str) and not raw.strip():
        return {}
    try:
        value = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        value = None
    if not isinstance(value, dict):
        raise TranslationError("tool call arguments that are not a JSON object")
    return value
