"""Tool call ids that carry Gemini's `thoughtSignature` through an OpenAI client and back.

Gemini 3 requires every function call of the current turn to come back with the opaque
`thoughtSignature` it was sent with. OpenAI clients keep only a tool call's id, name and arguments, so
the signature rides in the id: `<base>__ts_<signature in base64url, unpadded>`. `<base>` is the
function call's own id when Gemini gave one, else `call_<24 hex>`; it alone is sent to Gemini as the
`functionCall.id` / `functionResponse.id`. Ids keep to `[A-Za-z0-9_-]`, which every provider accepts,
so a conversation can still fall back to another provider. A signature that is not standard base64 is
carried as `__tx_<base64url of its UTF-8 bytes>`. Ids from other providers pass through untouched.
"""

from __future__ import annotations

import base64
import re
import uuid

SIGNATURE_MARKER = "__ts_"
TEXT_SIGNATURE_MARKER = "__tx_"
_BASE64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")
_SAFE_BASE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TO_URL = str.maketrans("+/", "-_")
_FROM_URL = str.maketrans("-_", "+/")


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def tool_call_id(upstream_id: object = None, signature: object = None) -> str:
    """The OpenAI id for a Gemini function call: its own id (or a fresh one) plus its signature."""
    base = upstream_id if isinstance(upstream_id, str) and _usable_base(upstream_id) else new_call_id()
    return with_signature(base, signature)


def with_signature(base: str, signature: object) -> str:
    """`base` with the signature appended (the inverse of `split_tool_call_id`)."""
    if not isinstance(signature, str) or not signature:
        return base
    if _BASE64.match(signature) and len(signature) % 4 == 0:
        return f"{base}{SIGNATURE_MARKER}{signature.rstrip('=').translate(_TO_URL)}"
    encoded = base64.urlsafe_b64encode(signature.encode()).decode().rstrip("=")
    return f"{base}{TEXT_SIGNATURE_MARKER}{encoded}"


def split_tool_call_id(call_id: str) -> tuple[str, str | None]:
    """(the id to send Gemini, the thought signature or None). Never raises: foreign ids pass as they are."""
    for marker in (SIGNATURE_MARKER, TEXT_SIGNATURE_MARKER):
        base, found, encoded = call_id.partition(marker)
        if not found or not base or not _BASE64URL.match(encoded) or len(encoded) % 4 == 1:
            continue
        padded = encoded + "=" * (-len(encoded) % 4)
        if marker == SIGNATURE_MARKER:
            return base, padded.translate(_FROM_URL)
        try:
            return base, base64.urlsafe_b64decode(padded).decode()
        except (ValueError, UnicodeDecodeError):
            continue
    return call_id, None


def _usable_base(value: str) -> bool:
    return bool(_SAFE_BASE.match(value)) and SIGNATURE_MARKER not in value and TEXT_SIGNATURE_MARKER not in value
