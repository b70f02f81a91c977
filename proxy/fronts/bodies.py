"""The request-body size limit (GATEWAY_MAX_BODY_BYTES), checked the same way by every front."""

from __future__ import annotations

from django.conf import settings

from core.errors import PayloadTooLarge


def refuse_oversize(size: int | str | None) -> None:
    """Raise PayloadTooLarge (413) when `size` (bytes read so far, or a declared Content-Length) is over."""
    if isinstance(size, str):
        size = int(size) if size.isdigit() else None
    limit = settings.GATEWAY_MAX_BODY_BYTES
    if size is not None and size > limit:
        raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
