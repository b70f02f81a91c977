"""The request path for /v1/chat/completions (and /v1/messages, translated), top to bottom in one place.

    authenticate → parse → detect_role → authorize → rewrite → enrich → select → admit
        → call with fallback (the body asked of the context per candidate) → respond
        → one outcome event to the subscribers (usage row, limiter settlement, ...)

Each named step is a list of functions over one `RequestContext`: the built-in one first, then any a
feature registered with `pipeline.add(step, fn)`. `detect_role` and `rewrite` are the prompts app's (role
detection, strategies), `enrich` the context app's (history, similar interactions). A step stops the request
by raising a GatewayError. Framework-free: bytes and headers in, a `ChatResult` out, so any ASGI front end can serve it.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from django.conf import settings

from apikeys.access import Access, AuthenticationFailed
from context import steps as context_steps
from core.errors import GatewayError
from mcp_bridge import steps as mcp_steps
from prompts import steps as prompt_steps
from providers.base import NativeRequest, Usage
from proxy import playground, steps
from proxy.body_log import log_exchange
from proxy.context import Outcome, RequestContext
from proxy.dispatch import StreamOutcome, StreamRelay, complete_with_fallback, open_stream_with_fallback
from proxy.metrics import folder as metrics_folder
from proxy.outcomes import Subscribers
from proxy.quota import QUOTA, QuotaGate, has_quota
from proxy.recording import record_usage_row, settle_limits, settle_quota
from proxy.retry import RetryPolicy
from proxy.route_reason import header_value, request_route
from proxy.state import circuit_breaker, provider_quotas
from proxy.token_estimates import estimated_usage, estimated_usage_now, request_tokens
from routing.selection import is_auto

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}

Step = Callable[[RequestContext], Awaitable[None] | None]
STEPS = ("authenticate", "parse", "detect_role", "authorize", "rewrite", "enrich", "select", "admit")


@dataclass(slots=True)
class ChatResult:
    status: int
    headers: dict[str, str]
    body: bytes | None = None
    stream: StreamRelay | None = None
    content_type: str = "application/json"
    native: bool = False  # body / stream are in the protocol of the request's `native` form, not OpenAI's


class Pipeline:
    """The named steps, each a list of functions run in order; features add theirs without touching others."""

    def __init__(self, builtins: Mapping[str, Step]) -> None:
        self._steps: dict[str, list[Step]] = {name: [] for name in STEPS}
        self._flat: tuple[Step, ...] = ()
        for name, step in builtins.items():
            self.add(name, step)

    def add(self, step_name: str, step: Step) -> None:
        """Run `step` in the named step, after the functions already there. Idempotent by identity."""
        if step_name not in self._steps:
            raise ValueError(f"unknown pipeline step {step_name!r}; the steps are {', '.join(STEPS)}")
        if step not in self._steps[step_name]:
            self._steps[step_name].append(step)
        self._rebuild()

    def remove(self, step_name: str, step: Step) -> None:
        if step in self._steps.get(step_name, ()):
            self._steps[step_name].remove(step)
        self._rebuild()

    def describe(self) -> dict[str, list[str]]:
        return {name: [f"{fn.__module__}.{fn.__qualname__}" for fn in fns] for name, fns in self._steps.items()}

    async def run(self, ctx: RequestContext) -> None:
        for step in self._flat:
            result = step(ctx)
            if result is not None and inspect.isawaitable(result):
                await result

    def _rebuild(self) -> None:
        self._flat = tuple(fn for name in STEPS for fn in self._steps[name])


pipeline = Pipeline({
    "authenticate": steps.authenticate,
    "parse": steps.parse,
    "detect_role": prompt_steps.detect_role,
    "authorize": steps.authorize,
    "rewrite": prompt_steps.rewrite,
    "enrich": context_steps.enrich,
    "select": steps.select,
    "admit": steps.admit,
})
pipeline.add("enrich", mcp_steps.enrich)  # registered MCP servers as context sources, after history and search
pipeline.add("select", context_steps.measure)  # exact token counts, once the candidates' windows are known

retry_policy = RetryPolicy(
    retries=settings.GATEWAY_RETRIES,
    base_delay=settings.GATEWAY_RETRY_BASE_DELAY_SECONDS,
    max_wait=settings.GATEWAY_RETRY_MAX_WAIT_SECONDS,
    deadline_seconds=settings.GATEWAY_REQUEST_DEADLINE_SECONDS,
)
pipeline.add("authenticate", playground.start_capture)

outcomes = Subscribers()
outcomes.subscribe(record_usage_row, name="usage_row")  # first: the row is the one thing never lost
outcomes.subscribe(settle_limits, name="limits_settle")
outcomes.subscribe(context_steps.save_exchange, name="context_save", wants_answer=True)
outcomes.subscribe(settle_quota, name="quota_settle")
outcomes.subscribe(metrics_folder.observe, name="metrics")  # appends a tuple; folded after the response
outcomes.subscribe(playground.publish_capture, name="playground_capture")


def load_plugins(modules: list[str]) -> None:
    """Import each module and call its `register(pipeline, outcomes)` (GATEWAY_PLUGINS)."""
    for dotted in modules:
        importlib.import_module(dotted).register(pipeline, outcomes)


load_plugins(settings.GATEWAY_PLUGINS)


async def handle_chat(
    raw: bytes, headers: Mapping[str, str], client_host: str | None = None, access: Access | None = None,
    native: NativeRequest | None = None,
) -> ChatResult:
    """Serve one chat-completions request. Raises GatewayError (published as an outcome, except a 401:
    an unidentified caller spends nothing, and must not be able to fill the usage table).
    `access`: the caller, when the front end has authenticated it already. `native`: the same request in
    the client's own protocol, sent as it is to a candidate that speaks it (the result says so)."""
    ctx = RequestContext(raw=raw, headers=headers, client_host=client_host, access=access, native=native)
    if settings.GATEWAY_LOG_BODIES:
        log_exchange(ctx.request_id, "request", raw, headers)
    try:
        await pipeline.run(ctx)
        if ctx.chat.stream:
            return await _stream(ctx)
        completion = await complete_with_fallback(ctx.candidates, ctx.body_for, ctx.log, circuit_breaker,
                                                  native_for=ctx.native_for, **dispatch_options(ctx))
        usage = completion.usage or await estimated_usage(ctx, steps.answer_from_body(completion.body))
    except AuthenticationFailed as error:
        error.headers.update(_gateway_headers(ctx))
        raise
    except GatewayError as error:
        error.headers.update(_gateway_headers(ctx))
        _publish(ctx, status_code=error.status, error=error)
        raise
    except asyncio.CancelledError:
        # The client went away before the answer: still one row, marked as such (499, as nginx logs it).
        _publish(ctx, status_code=499, status="client_closed")
        raise
    except Exception as error:  # a bug: the client gets a 500 from the front, and the row still exists
        _publish(ctx, status_code=500, error=error)
        raise
    headers = _gateway_headers(ctx)
    _publish(ctx, status_code=200, usage=usage, upstream_model=completion.upstream_model,
             answer_body=completion.body)
    if settings.GATEWAY_LOG_BODIES:
        log_exchange(ctx.request_id, "response", completion.body)
    return ChatResult(status=200, headers=headers, body=completion.body, native=completion.native)


async def _stream(ctx: RequestContext) -> ChatResult:
    stream, first = await open_stream_with_fallback(ctx.candidates, ctx.body_for, ctx.log, circuit_breaker,
                                                    native_for=ctx.native_for, **dispatch_options(ctx))
    # Assembled always: an upstream that reports no usage is counted from the answer (the row says estimated).
    outcome = StreamOutcome(assemble=True)
    upstream_model = stream.upstream_model if stream.native else str(first.chunk.get("model", ""))
    overhead_ms = ctx.overhead_ms()  # measured at commit: the rest of the stream is the upstream's time

    def finish(outcome: StreamOutcome) -> None:
        ttft = (outcome.first_byte_at - ctx.started) * 1000 if outcome.first_byte_at else None
        usage = outcome.usage
        try:
            if usage is None:  # counted without waiting: the row must go out now, even at shutdown
                usage = estimated_usage_now(ctx, outcome.answer, load=outcome.status == "ok")
        finally:  # the row is written whatever happened to the count
            _publish(ctx, status_code=200, usage=usage, upstream_model=upstream_model, ttft_ms=ttft,
                     status=outcome.status, error=outcome.error, overhead_ms=overhead_ms, answer=outcome.answer)

    headers = {**SSE_HEADERS, **_gateway_headers(ctx)}
    body = StreamRelay(stream, first, include_usage=ctx.chat.include_usage, outcome=outcome, on_finish=finish)
    return ChatResult(status=200, headers=headers, stream=body, content_type="text/event-stream", native=stream.native)


def dispatch_options(ctx: RequestContext) -> dict:
    """How dispatch retries, how long it may take and which quotas it checks, for this request (any front's
    handler uses it)."""
    gate = None
    if has_quota(ctx.candidates):
        gate = ctx.extras[QUOTA] = QuotaGate(provider_quotas, lambda: request_tokens(ctx))
    return {"policy": retry_policy, "deadline": retry_policy.deadline_at(ctx.started), "gate": gate}


def record_rejection(error: GatewayError, access: Access | None = None) -> None:
    """A request refused before it could be parsed (e.g. a body over the size limit) still gets its row;
    `access`: the caller, when the front has identified it already."""
    ctx = RequestContext(access=access)
    error.headers.update(_gateway_headers(ctx))
    _publish(ctx, status_code=error.status, error=error)


def _gateway_headers(ctx: RequestContext) -> dict[str, str]:
    headers = {
        "x-request-id": ctx.request_id,
        "x-gateway-attempts": str(ctx.log.tries),
        "x-gateway-overhead-ms": f"{ctx.overhead_ms():.3f}",
    }
    if ctx.grant is not None:
        headers.update(ctx.grant.headers)
    by_role = ctx.chat is not None and (is_auto(ctx.chat.model) or ctx.chat.role or
                                        any(is_auto(candidate.via) for candidate in ctx.candidates[:1]))
    if ctx.role and by_role:
        headers["x-gateway-role"] = ctx.role
        headers["x-gateway-role-source"] = ctx.role_source
        if ctx.role_confidence is not None:
            headers["x-gateway-role-confidence"] = f"{ctx.role_confidence:.2f}"
    reason = request_route(ctx)
    if reason:
        headers["x-gateway-route-reason"] = header_value(reason)
    chosen = ctx.log.chosen
    if chosen is not None:
        headers["x-gateway-model"] = chosen.model.public_id
        headers["x-gateway-provider"] = chosen.provider.name
    gate = ctx.extras.get(QUOTA)
    if gate is not None:
        headers.update(gate.headers(chosen))
    if ctx.response_headers:
        headers.update(ctx.response_headers)
    return headers


def _publish(
    ctx: RequestContext,
    *,
    status_code: int,
    usage: Usage | None = None,
    upstream_model: str = "",
    ttft_ms: float | None = None,
    status: str | None = None,
    error: Exception | None = None,
    overhead_ms: float | None = None,
    answer=None,
    answer_body: bytes | None = None,
) -> None:
    usage = usage or Usage()
    chosen = ctx.log.chosen
    if answer is None and answer_body is not None and outcomes.wants_answers:
        answer = steps.answer_from_body(answer_body)
    outcomes.publish(Outcome(
        ctx=ctx,
        status_code=status_code,
        usage=usage,
        cost=chosen.model.cost(usage.prompt_tokens, usage.completion_tokens, cached_tokens=usage.cached_tokens,
                               cache_creation_tokens=usage.cache_creation_tokens) if chosen else 0.0,
        status=status or ("ok" if error is None else "error"),
        latency_ms=ctx.elapsed_ms(),
        overhead_ms=ctx.overhead_ms() if overhead_ms is None else overhead_ms,
        upstream_model=upstream_model,
        ttft_ms=ttft_ms,
        error=error,
        answer=answer,
    ))
