"""Playground tickets: how a staff member's admin page calls the gateway's own API as a real client.

The chat endpoint never reads cookies (so a session can not be ridden by another site's form). Instead
the playground page asks the admin, with its session and CSRF token, for a ticket: a short-lived
bearer token signed with SECRET_KEY, naming the staff member and what to act as (one gateway key, or a
profile). The page sends it as `Authorization: Bearer gwp_...`; the gateway checks the signature and age
here, in memory, with no database read, and serves the request through the whole pipeline: the chosen
key's restrictions, limits and budget apply, or the profile is forced. A ticket lives TICKET_SECONDS, so
removing someone's staff flag takes effect within that time.
"""

from __future__ import annotations

import time

from django.core import signing

from apikeys.access import Access, AuthenticationFailed, KeySpec
from apikeys.state import key_snapshot

TICKET_PREFIX = "gwp_"
PLAYGROUND_PREFIX = "playground"
TICKET_SECONDS = 600
_SALT = "gateway.playground.ticket"


def ticket_issue(*, username: str, key_prefix: str = "", profile: str = "") -> str:
    """A ticket for `username` (a staff member the caller has checked) acting as a key or a profile."""
    return TICKET_PREFIX + signing.dumps({"u": username, "k": key_prefix, "p": profile}, salt=_SALT, compress=True)


async def playground_access(presented: str) -> Access:
    """The access a ticket grants; AuthenticationFailed (401) when it is forged, expired or its key is gone."""
    try:
        claims = signing.loads(presented[len(TICKET_PREFIX):], salt=_SALT, max_age=TICKET_SECONDS)
    except signing.SignatureExpired:
        raise AuthenticationFailed("The playground ticket has expired: reload the playground page.") from None
    except signing.BadSignature:
        raise AuthenticationFailed("Invalid API key.") from None
    username = str(claims.get("u", ""))
    prefix = str(claims.get("k", ""))
    if prefix:
        spec = (await key_snapshot.get()).keys.get(prefix)
        if spec is None or spec.revoked or (spec.expires_at is not None and spec.expires_at <= time.time()):
            raise AuthenticationFailed(f"The key {prefix}… is not active.")
        return Access(spec, playground_user=username)
    profile = str(claims.get("p", ""))
    # Usage rows of these requests carry the prefix "playground" (no key has it: key prefixes start gwk_).
    return Access(KeySpec(prefix=PLAYGROUND_PREFIX, name=f"playground ({username})", digest="", profile=profile),
                  playground_user=username)
