"""The playground's view of one request: what the gateway sent upstream, each attempt, the outcome.

Only for requests made with a playground ticket (apikeys.playground): the `authenticate` step opens a
capture (providers.base.upstream_capture), every provider request of this request lands in it exactly as
sent, and after the response an outcome subscriber stores it, keys masked, in the cache for the admin page
to read (shared by every process when REDIS_URL is set). Every other request pays one attribute check.
"""

from __future__ import annotations

import asyncio
import logging
import re
from urllib.parse import urlsplit, urlunsplit

from django.core.cache import cache

from core.background import run_read
from providers.base import upstream_capture
from proxy.body_log import redact
from proxy.context import Outcome, RequestContext

logger = logging.getLogger(__name__)

CAPTURE_SECONDS = 900
MAX_BODY_CHARS = 64 * 1024
_SECRET_HEADERS = {"authorization", "x-api-key", "api-key", "x-goog-api-key", "proxy-authorization"}
_KEY_IN_QUERY = re.compile(r"(?i)((?:^|&)(?:key|api_key|access_token)=)[^&]*")
_pending: set[asyncio.Task] = set()


def capture_key(request_id: str) -> str:
    return f"gateway:playground:{request_id}"


def start_capture(ctx: RequestContext) -> None:
    """Pipeline step (authenticate): record this request's upstream requests if it comes from the playground."""
    access = ctx.access
    if access is not None and access.playground_user:
        sink: list = []
        upstream_capture.set(sink)
        ctx.extras["playground"] = sink


def publish_capture(outcome: Outcome) -> None:
    """Outcome subscriber: store the capture off the event loop (the cache may be Redis)."""
    ctx = outcome.ctx
    sink = ctx.extras.get("playground")
    if sink is None:
        return
    record = {
        "request_id": ctx.request_id,
        "user": ctx.caller.playground_user,
        "role": ctx.role,
        "profile": ctx.profile_name,
        "status_code": outcome.status_code,
        "error": str(outcome.error) if outcome.error else "",
        "candidates": [c.model.public_id for c in ctx.candidates],
        "upstream_requests": [_shown(request) for request in sink],
        "attempts": [attempt.as_dict() for attempt in ctx.log.attempts],
    }
    task = asyncio.get_running_loop().create_task(run_read(cache.set, capture_key(ctx.request_id), record,
                                                           CAPTURE_SECONDS))
    _pending.add(task)
    task.add_done_callback(_pending.discard)


def read_capture(request_id: str) -> dict | None:
    return cache.get(capture_key(request_id))


def _shown(request) -> dict:
    """An upstream request as the page shows it: secrets in headers, URL and body masked."""
    headers = {name: ("[REDACTED]" if name.lower() in _SECRET_HEADERS else redact(value))
               for name, value in dict(request.headers).items()}
    body = (request.content or b"").decode("utf-8", "replace")
    more = len(body) - MAX_BODY_CHARS
    return {
        "method": request.method,
        "url": redact(_masked_url(request.url)),
        "headers": headers,
        "body": redact(body[:MAX_BODY_CHARS]) + (f"\n… ({more} more characters)" if more > 0 else ""),
    }


def _masked_url(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=netloc, query=_KEY_IN_QUERY.sub(r"\1[REDACTED]", parts.query)))
