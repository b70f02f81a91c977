"""The pipeline's access step: who is calling (401), may they (403), is there room (429).

Reads the in-memory key snapshot, never the ORM; with REDIS_URL, a limited key costs one Redis
round trip per request, an unlimited one none.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from django.conf import settings

from apikeys.access import ANONYMOUS, Access, authenticate, is_loopback, presented_key
from apikeys.keyformat import prefix_of
from apikeys.limits import Grant, estimate_tokens
from apikeys.playground import TICKET_PREFIX, playground_access
from apikeys.state import key_snapshot, limiter

_PROXY_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


def anonymous_allowed(headers: Mapping[str, str], client_host: str | None) -> bool:
    """Local mode serves a loopback client that came straight in: a request relayed by a proxy on this
    machine also arrives from loopback, but its client is elsewhere."""
    return (
        settings.GATEWAY_ALLOW_ANONYMOUS
        and is_loopback(client_host)
        and not any(name in headers for name in _PROXY_HEADERS)
    )


async def authenticate_request(headers: Mapping[str, str], client_host: str | None) -> Access:
    presented = presented_key(headers)
    if presented and presented.startswith(TICKET_PREFIX):
        return await playground_access(presented)
    anonymous = anonymous_allowed(headers, client_host)
    if anonymous and (not presented or prefix_of(presented) is None):
        return ANONYMOUS
    return authenticate(await key_snapshot.get(), presented, anonymous_allowed=anonymous, now=time.time())


async def admit(access: Access, body_bytes: int, max_tokens: object) -> Grant | None:
    """Count the request against the key's limits and budget; RateLimited / QuotaExceeded (429) if over."""
    if access.key is None or not access.key.is_limited:
        return None
    return await limiter.acquire(access.key, estimate_tokens(body_bytes, max_tokens))


def settle(grant: Grant | None, tokens: int, cost: float) -> None:
    """After the call: the real token count replaces the estimate, the cost joins the month's spend."""
    if grant is not None:
        limiter.settle(grant, tokens, cost)
