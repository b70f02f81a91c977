"""Request and response bodies in the log: off unless GATEWAY_LOG_BODIES is on, and then redacted.

Bodies carry prompts and code, so they are never logged by default. When an operator switches
logging on to debug a client, anything shaped like a credential is masked first: gateway keys,
provider-style secret keys, bearer tokens, and the values of the provider key variables this
process holds.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping

logger = logging.getLogger("gateway.bodies")

_SECRET_SHAPES = re.compile(
    r"gwk_[A-Za-z0-9]{8}_[A-Za-z0-9_\-]+"  # gateway keys
    r"|\b(?:sk|pk|rk|xai|gsk)-[A-Za-z0-9_\-]{8,}"  # provider-style keys (OpenAI, Anthropic, xAI, ...)
    r"|AIza[0-9A-Za-z_\-]{20,}"  # Google API keys
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=\-]{8,}"
)
_REDACTED = "[REDACTED]"
_MAX_LOGGED = 64 * 1024


def _process_secrets() -> list[str]:
    """Provider keys from the environment (any *_API_KEY value long enough to be a secret)."""
    return sorted(
        (value for name, value in os.environ.items() if name.endswith("_API_KEY") and len(value) >= 8),
        key=len, reverse=True,
    )


def redact(text: str) -> str:
    for secret in _process_secrets():
        text = text.replace(secret, _REDACTED)
    return _SECRET_SHAPES.sub(_REDACTED, text)


def log_exchange(request_id: str, direction: str, body: bytes, headers: Mapping[str, str] | None = None) -> None:
    text = body[:_MAX_LOGGED].decode("utf-8", "replace")
    more = f" (+{len(body) - _MAX_LOGGED} bytes)" if len(body) > _MAX_LOGGED else ""
    shown_headers = ""
    if headers:
        shown_headers = " headers=" + redact(repr({name: value for name, value in headers.items()}))
    logger.info("%s %s%s body=%s%s", request_id, direction, shown_headers, redact(text), more)
