"""The request path for `POST /v1/embeddings`: the chat pipeline's steps where they apply.

    authenticate → parse (an embeddings request) → authorize (no role: embeddings have none)
        → select (embedding models only) → admit → call with fallback (`Provider.embed`) → respond
        → one outcome event to the subscribers (usage row with the input tokens and cost, limits)

Routed by model like chat: a public id (an embedding model, then its fallbacks) or
`<provider>/<model>`; `auto` has no meaning here. The answer is OpenAI's embeddings list, from an
OpenAI-compatible backend byte for byte, from Gemini / Vertex AI translated (`providers.google`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any

import orjson
from django.conf import settings

from apikeys.access import Access, AuthenticationFailed
from apikeys.access import authorize as authorize_access
from core.errors import GatewayError, InvalidRequest
from providers.base import Completion, Provider
from providers.specs import ModelSpec
from proxy import steps
from proxy.body_log import log_exchange
from proxy.chat_request import ChatRequest, _check_printable, _gateway_value
from proxy.context import RequestContext
from proxy.dispatch import complete_with_fallback
from proxy.pipeline import ChatResult, Pipeline, _gateway_headers, _publish, retry_policy
from proxy.state import circuit_breaker
from routing.selection import EMBEDDING, is_auto, resolve_profile
from routing.state import routing_snapshot

MAX_INPUTS = 2048  # OpenAI's limit on the items of one request
ENCODINGS = ("float", "base64")


def parse_embeddings_request(raw: bytes, headers: Mapping[str, str]) -> ChatRequest:
    """Raises InvalidRequest (400) naming the field to fix."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON ({exc}).") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("'model' is required: an embedding model id from /v1/models.", param="model")
    _check_printable(model, "model")
    if is_auto(model):
        raise InvalidRequest("'auto' routes chat requests by role; name an embedding model from /v1/models.",
                             param="model")
    _check_input(body.get("input"))
    if body.get("encoding_format") is not None and body["encoding_format"] not in ENCODINGS:
        raise InvalidRequest("'encoding_format' must be float or base64.", param="encoding_format")
    dimensions = body.get("dimensions")
    if dimensions is not None and (not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1):
        raise InvalidRequest("'dimensions' must be a positive integer.", param="dimensions")
    if body.get("user") is not None and not isinstance(body["user"], str):
        raise InvalidRequest("'user' must be a string.", param="user")
    return ChatRequest(
        body=body, model=model, stream=False, include_usage=False, role=None,
        conversation_id=_gateway_value(body, headers, "conversation_id", "x-conversation-id") or "",
        profile=_gateway_value(body, headers, "profile", "x-gateway-profile"), needs=frozenset({EMBEDDING}),
    )


def _check_input(value: Any) -> None:
    """A string, a list of strings, a list of token ids, or a list of lists of token ids; none empty."""
    problem = "'input' is required: a string, a list of strings, or token arrays (lists of integers)."
    if isinstance(value, str):
        if not value:
            raise InvalidRequest("'input' must not be empty.", param="input")
        return
    if not isinstance(value, list) or not value:
        raise InvalidRequest(problem, param="input")
    if len(value) > MAX_INPUTS:
        raise InvalidRequest(f"'input' has {len(value)} items; at most {MAX_INPUTS} per request.", param="input")
    if all(_is_token(item) for item in value):
        return
    for index, item in enumerate(value):
        if isinstance(item, str) and item:
            continue
        if isinstance(item, list) and item and all(_is_token(token) for token in item):
            continue
        raise InvalidRequest(f"input[{index}] must be a non-empty string or a non-empty list of token ids.",
                             param=f"input[{index}]")


def _is_token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


async def _parse(ctx: RequestContext) -> None:
    ctx.snapshot = await routing_snapshot.get()
    ctx.chat = parse_embeddings_request(ctx.raw, ctx.headers)


def _authorize(ctx: RequestContext) -> None:
    chat = ctx.chat
    ctx.profile = resolve_profile(ctx.snapshot, authorize_access(ctx.caller, profile=chat.profile, role=None,
                                                                 model=chat.model, auto=False))


embeddings_pipeline = Pipeline({
    "authenticate": steps.authenticate,
    "parse": _parse,
    "authorize": _authorize,
    "select": steps.select,
    "admit": steps.admit,
})


def _embed(provider: Provider, body: dict, model: ModelSpec) -> Awaitable[Completion]:
    return provider.embed(body, model)


async def handle_embeddings(
    raw: bytes, headers: Mapping[str, str], client_host: str | None = None, access: Access | None = None
) -> ChatResult:
    """Serve one embeddings request. Raises GatewayError (published as an outcome, except a 401)."""
    ctx = RequestContext(raw=raw, headers=headers, client_host=client_host, access=access)
    if settings.GATEWAY_LOG_BODIES:
        log_exchange(ctx.request_id, "request", raw, headers)
    try:
        await embeddings_pipeline.run(ctx)
        # Retries and the deadline as for chat; no quota gate (its estimate reads chat messages).
        completion = await complete_with_fallback(ctx.candidates, ctx.body_for, ctx.log, circuit_breaker,
                                                  send=_embed, policy=retry_policy,
                                                  deadline=retry_policy.deadline_at(ctx.started))
    except AuthenticationFailed as error:
        error.headers.update(_gateway_headers(ctx))
        raise
    except GatewayError as error:
        error.headers.update(_gateway_headers(ctx))
        _publish(ctx, status_code=error.status, error=error)
        raise
    except asyncio.CancelledError:
        _publish(ctx, status_code=499, status="client_closed")
        raise
    except Exception as error:
        _publish(ctx, status_code=500, error=error)
        raise
    headers = _gateway_headers(ctx)
    _publish(ctx, status_code=200, usage=completion.usage, upstream_model=completion.upstream_model)
    return ChatResult(status=200, headers=headers, body=completion.body)
