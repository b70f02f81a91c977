"""The request path for /v1/chat/completions, top to bottom in one place.

authenticate → parse → detect role → authorize → (rewrite prompt, enrich context: later issues
slot in here) → select candidates → admit (rate limits, budget) → call with fallback → record usage.
Framework-free: bytes and headers in, a `ChatResult` out, so any ASGI front end can serve it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone

from apikeys.access import ANONYMOUS, Access, AuthenticationFailed, authorize, permitted
from apikeys.gate import admit, authenticate_request, settle
from apikeys.limits import Grant
from routing.body_log import log_exchange
from routing.chat_request import ChatRequest, parse_chat_request
from routing.dispatch import (
    CallLog,
    StreamOutcome,
    StreamRelay,
    complete_with_fallback,
    open_stream_with_fallback,
)
from routing.errors import GatewayError
from routing.providers.base import Usage
from routing.selection import DEFAULT_ROLE, is_auto, resolve_profile, select_candidates
from routing.snapshot import RoutingSnapshot
from routing.state import circuit_breaker, routing_snapshot
from usage.events import UsageEvent
from usage.state import recorder

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


@dataclass(slots=True)
class ChatResult:
    status: int
    headers: dict[str, str]
    body: bytes | None = None
    stream: StreamRelay | None = None
    content_type: str = "application/json"


@dataclass(slots=True)
class RequestContext:
    request_id: str = field(default_factory=lambda: f"gw-{uuid.uuid4().hex}")
    started: float = field(default_factory=time.perf_counter)
    created_at: object = field(default_factory=timezone.now)
    chat: ChatRequest | None = None
    role: str = ""
    profile: str = ""
    access: Access = ANONYMOUS
    grant: Grant | None = None
    log: CallLog = field(default_factory=CallLog)

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def overhead_ms(self) -> float:
        return max(self.elapsed_ms() - self.log.upstream_ms, 0.0)


async def handle_chat(
    raw: bytes, headers: Mapping[str, str], client_host: str | None = None, access: Access | None = None
) -> ChatResult:
    """Serve one chat-completions request. Raises GatewayError (recorded as a usage row, except a 401:
    an unidentified caller spends nothing, and must not be able to fill the usage table).
    `access`: the caller, when the front end has authenticated it already."""
    ctx = RequestContext()
    if settings.GATEWAY_LOG_BODIES:
        log_exchange(ctx.request_id, "request", raw, headers)
    try:
        ctx.access = access or await authenticate_request(headers, client_host)
        snapshot = await routing_snapshot.get()
        chat = ctx.chat = parse_chat_request(
            raw, headers, max_messages=settings.GATEWAY_MAX_MESSAGES, known_roles=snapshot.roles
        )
        ctx.role = chat.role or DEFAULT_ROLE
        auto = is_auto(chat.model)
        profile_name = authorize(ctx.access, profile=chat.profile, role=ctx.role, model=chat.model, auto=auto)
        profile = resolve_profile(snapshot, profile_name)
        ctx.profile = profile.name
        candidates = permitted(ctx.access, select_candidates(
            snapshot, model=chat.model, role=chat.role, profile=profile, needs=chat.needs
        ))
        max_tokens = chat.body.get("max_tokens", chat.body.get("max_completion_tokens"))
        ctx.grant = await admit(ctx.access, len(raw), max_tokens)
        if chat.stream:
            return await _stream(ctx, chat, candidates, snapshot)
        completion = await complete_with_fallback(candidates, chat.body, ctx.log, circuit_breaker)
    except AuthenticationFailed as error:
        error.headers.update(_gateway_headers(ctx))
        raise
    except GatewayError as error:
        error.headers.update(_gateway_headers(ctx))
        _record(ctx, status_code=error.status, usage=None, error=error)
        raise
    except asyncio.CancelledError:
        # The client went away before the answer: still one row, marked as such (499, as nginx logs it).
        _record(ctx, status_code=499, usage=None, status="client_closed")
        raise
    except Exception as error:  # a bug: the client gets a 500 from the front, and the row still exists
        _record(ctx, status_code=500, usage=None, error=error)
        raise
    headers = _gateway_headers(ctx)
    _record(ctx, status_code=200, usage=completion.usage, upstream_model=completion.upstream_model)
    if settings.GATEWAY_LOG_BODIES:
        log_exchange(ctx.request_id, "response", completion.body)
    return ChatResult(status=200, headers=headers, body=completion.body)


async def _stream(ctx: RequestContext, chat: ChatRequest, candidates, snapshot: RoutingSnapshot) -> ChatResult:
    stream, first = await open_stream_with_fallback(candidates, chat.body, ctx.log, circuit_breaker)
    outcome = StreamOutcome()
    upstream_model = str(first.chunk.get("model", ""))
    overhead_ms = ctx.overhead_ms()  # measured at commit: the rest of the stream is the upstream's time

    def finish(outcome: StreamOutcome) -> None:
        ttft = (outcome.first_byte_at - ctx.started) * 1000 if outcome.first_byte_at else None
        _record(
            ctx, status_code=200, usage=outcome.usage, upstream_model=upstream_model, ttft_ms=ttft,
            status=outcome.status, error=outcome.error, overhead_ms=overhead_ms,
        )

    headers = {**SSE_HEADERS, **_gateway_headers(ctx)}
    body = StreamRelay(stream, first, include_usage=chat.include_usage, outcome=outcome, on_finish=finish)
    return ChatResult(status=200, headers=headers, stream=body, content_type="text/event-stream")


def record_rejection(error: GatewayError) -> None:
    """A request refused before it could be parsed (e.g. a body over the size limit) still gets its row."""
    ctx = RequestContext()
    error.headers.update(_gateway_headers(ctx))
    _record(ctx, status_code=error.status, usage=None, error=error)


def _gateway_headers(ctx: RequestContext) -> dict[str, str]:
    headers = {
        "x-request-id": ctx.request_id,
        "x-gateway-attempts": str(len(ctx.log.attempts)),
        "x-gateway-overhead-ms": f"{ctx.overhead_ms():.3f}",
    }
    if ctx.grant is not None:
        headers.update(ctx.grant.headers)
    if ctx.role and ctx.chat is not None and (is_auto(ctx.chat.model) or ctx.chat.role):
        headers["x-gateway-role"] = ctx.role
    chosen = ctx.log.chosen
    if chosen is not None:
        headers["x-gateway-model"] = chosen.model.public_id
        headers["x-gateway-provider"] = chosen.provider.name
    return headers


def _record(
    ctx: RequestContext,
    *,
    status_code: int,
    usage: Usage | None,
    upstream_model: str = "",
    ttft_ms: float | None = None,
    status: str | None = None,
    error: Exception | None = None,
    overhead_ms: float | None = None,
) -> None:
    chat, chosen = ctx.chat, ctx.log.chosen
    usage = usage or Usage()
    cost = chosen.model.cost(usage.prompt_tokens, usage.completion_tokens) if chosen else 0.0
    settle(ctx.grant, usage.total_tokens, cost)
    recorder.record(
        UsageEvent(
            created_at=ctx.created_at,
            request_id=ctx.request_id,
            profile=ctx.profile,
            api_key_prefix=ctx.access.prefix,
            role=ctx.role,
            conversation_id=chat.conversation_id if chat else "",
            requested_model=chat.model if chat else "",
            model=chosen.model.public_id if chosen else "",
            provider=chosen.provider.name if chosen else "",
            upstream_model=upstream_model or (chosen.model.upstream_name if chosen else ""),
            stream=chat.stream if chat else False,
            attempts=len(ctx.log.attempts),
            attempt_log=[attempt.as_dict() for attempt in ctx.log.attempts],
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens,
            cost=cost,
            latency_ms=ctx.elapsed_ms(),
            ttft_ms=ttft_ms,
            overhead_ms=ctx.overhead_ms() if overhead_ms is None else overhead_ms,
            status_code=status_code,
            status=status or ("ok" if error is None else "error"),
            error_type=(getattr(error, "code", None) or getattr(error, "error_type", "")) if error else "",
            error_message=str(getattr(error, "message", error))[:2000] if error else "",
        )
    )
