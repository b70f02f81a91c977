"""The built-in outcome subscribers: the usage row, and the limiter's settlement with the real count."""

from __future__ import annotations

from apikeys.gate import settle
from proxy.context import Outcome
from proxy.quota import QUOTA
from proxy.route_reason import ROW_LIMIT, request_route
from usage.events import UsageEvent
from usage.state import recorder


def record_usage_row(outcome: Outcome) -> None:
    """One row per request, journaled before it is buffered (usage.recorder)."""
    ctx, usage = outcome.ctx, outcome.usage
    chat, chosen, error = ctx.chat, ctx.log.chosen, outcome.error
    recorder.record(
        UsageEvent(
            created_at=ctx.created_at,
            request_id=ctx.request_id,
            profile=ctx.profile_name,
            api_key_prefix=ctx.caller.prefix,
            role=ctx.role,
            role_source=ctx.role_source,
            role_confidence=ctx.role_confidence,
            conversation_id=chat.conversation_id if chat else "",
            requested_model=chat.model if chat else "",
            model=chosen.model.public_id if chosen else "",
            provider=chosen.provider.name if chosen else "",
            upstream_model=outcome.upstream_model or (chosen.model.upstream_name if chosen else ""),
            stream=chat.stream if chat else False,
            attempts=ctx.log.tries,
            attempt_log=[attempt.as_dict() for attempt in ctx.log.attempts],
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens,
            cached_tokens=usage.cached_tokens,
            cache_creation_tokens=usage.cache_creation_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            tokens_estimated=usage.estimated,
            cost=outcome.cost,
            latency_ms=outcome.latency_ms,
            ttft_ms=outcome.ttft_ms,
            overhead_ms=outcome.overhead_ms,
            status_code=outcome.status_code,
            status=outcome.status,
            error_type=(getattr(error, "code", None) or getattr(error, "error_type", "")) if error else "",
            error_message=str(getattr(error, "message", error))[:2000] if error else "",
            route_reason=request_route(ctx)[:ROW_LIMIT],
        )
    )


def settle_limits(outcome: Outcome) -> None:
    """The key's token estimate is replaced by the upstream's count; the cost joins the month's spend."""
    settle(outcome.ctx.grant, outcome.usage.total_tokens, outcome.cost)


def settle_quota(outcome: Outcome) -> None:
    """The answering provider's quota reservation becomes its real (or estimated) token count."""
    gate = outcome.ctx.extras.get(QUOTA)
    if gate is not None:
        chosen = outcome.ctx.log.chosen
        gate.settle(chosen.provider.name if chosen else None, outcome.usage.total_tokens)
