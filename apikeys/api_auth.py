"""Auth callables for the ninja routers (`auth=`): one place decides, no checks pasted per endpoint."""

from __future__ import annotations

from django.http import HttpRequest

from apikeys.access import Access, PermissionDenied
from apikeys.gate import authenticate_request


async def gateway_key(request: HttpRequest) -> Access:
    """Any valid gateway key (or the anonymous user in local mode); 401 otherwise."""
    return await authenticate_request(request.headers, request.META.get("REMOTE_ADDR"))


async def staff_or_admin_key(request: HttpRequest) -> bool:
    """A staff member's admin session, or a key marked admin (or local anonymous mode); 401 / 403 otherwise."""
    user = await request.auser()
    if user.is_active and user.is_staff:
        return True
    if not (await gateway_key(request)).is_admin:
        raise PermissionDenied("This endpoint needs an admin key or a staff session.")
    return True


async def staff_or_admin_key_for_writes(request: HttpRequest) -> bool:
    """`staff_or_admin_key` for endpoints that change things: a staff session counts on an unsafe method only
    with Django's CSRF token (another site can make a browser send the session cookie, never a key header)."""
    user = await request.auser()
    if user.is_active and user.is_staff:
        from ninja.utils import check_csrf

        if request.method in ("GET", "HEAD", "OPTIONS") or check_csrf(request) is None:
            return True
        if "authorization" not in request.headers and "x-api-key" not in request.headers:
            raise PermissionDenied("A staff session must send its CSRF token (X-CSRFToken) to change things.")
    if not (await gateway_key(request)).is_admin:
        raise PermissionDenied("This endpoint needs an admin key, or a staff session with its CSRF token.")
    return True


async def metrics_scraper(request: HttpRequest) -> bool:
    """/metrics: the METRICS_TOKEN bearer token (for Prometheus), else what /status accepts."""
    import hmac

    from django.conf import settings

    token = settings.METRICS_TOKEN
    presented = request.headers.get("authorization", "")
    if token and presented.startswith("Bearer ") and hmac.compare_digest(presented[7:].encode(), token.encode()):
        return True
    return await staff_or_admin_key(request)
