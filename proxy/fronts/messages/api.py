"""Thin ninja router for Anthropic's Messages API: translate in, the chat pipeline, translate out.

The request also goes to the pipeline as it is (a NativeRequest): an Anthropic candidate gets it near
verbatim and its answer comes back unchanged (providers.anthropic.native); other candidates get the
chat-shaped translation, and their answer is translated back.
The gateway key comes as `x-api-key` (Anthropic's clients) or a bearer token; `anthropic-version` is ignored.
Every error, the pipeline's included, is answered in Anthropic's shape
`{"type": "error", "error": {"type", "message"}}` with the pipeline's status.
"""

from __future__ import annotations

import logging

import orjson
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from ninja import Router

from apikeys.api_auth import gateway_key
from core.errors import GatewayError, InvalidRequest
from providers.anthropic.native import PROTOCOL as NATIVE_PROTOCOL
from providers.base import NativeRequest
from proxy.fronts.bodies import refuse_oversize
from proxy.fronts.messages.stream import anthropic_events, native_events
from proxy.fronts.messages.tokens import estimate_input_tokens
from proxy.fronts.messages.translate_request import dropped_fields, to_openai_request
from proxy.fronts.messages.translate_response import error_body, to_anthropic_message
from proxy.pipeline import handle_chat

logger = logging.getLogger(__name__)

router = Router(tags=["Anthropic-compatible"])

WARNING_HEADER = "x-gateway-warning"
_ANTHROPIC_ERRORS = {"description": "Anthropic's error shape: {type: error, error: {type, message}}"}


def _json(data: object, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(orjson.dumps(data), status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _read_json(request: HttpRequest) -> object:
    refuse_oversize(request.headers.get("content-length"))
    try:
        return orjson.loads(request.body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON ({exc}).") from None


def _with_request_id(headers: dict[str, str]) -> dict[str, str]:
    """Anthropic's SDKs read the request id from `request-id`."""
    return {**headers, "request-id": headers["x-request-id"]} if "x-request-id" in headers else headers


def _error(error: GatewayError) -> HttpResponse:
    return _json(error_body(error.status, error.message), error.status, _with_request_id(error.headers))


@router.post("/messages", summary="Create a message (Anthropic Messages API; streams with \"stream\": true)",
             response={200: dict}, openapi_extra={"responses": {"4XX": _ANTHROPIC_ERRORS, "5XX": _ANTHROPIC_ERRORS}})
async def create_message(request: HttpRequest):
    try:
        access = await gateway_key(request)  # before the body: a caller without a key learns nothing from it
        body = _read_json(request)
        chat = to_openai_request(body)
        native = NativeRequest(NATIVE_PROTOCOL, body, {"anthropic-beta": request.headers.get("anthropic-beta", "")},
                               {"beta": request.GET.get("beta", "")})
        result = await handle_chat(orjson.dumps(chat), request.headers, access=access, native=native)
    except GatewayError as error:
        return _error(error)
    headers = _with_request_id(result.headers)
    dropped = [] if result.native else dropped_fields(body)
    if dropped:
        headers[WARNING_HEADER] = f"dropped, the backend has no equivalent: {', '.join(dropped)}"
    if result.stream is not None:
        events = native_events(result.stream) if result.native else anthropic_events(result.stream,
                                                                                      model=chat["model"])
        response = StreamingHttpResponse(events, status=result.status, content_type="text/event-stream")
        for name, value in headers.items():
            response[name] = value
        return response
    if result.native:
        response = HttpResponse(result.body, status=result.status, content_type="application/json")
        for name, value in headers.items():
            response[name] = value
        return response
    try:
        completion = orjson.loads(result.body or b"")
    except orjson.JSONDecodeError:
        logger.warning("upstream answer for %s is not JSON", headers.get("x-request-id"))
        return _json(error_body(502, "The upstream answer was not valid JSON."), 502, headers)
    return _json(to_anthropic_message(completion, model=chat["model"]), result.status, headers)


@router.post("/messages/count_tokens", response={200: dict},
             summary="ESTIMATE a message's input tokens (about 4 characters per token; not the model's tokenizer)")
async def count_tokens(request: HttpRequest):
    try:
        await gateway_key(request)
        body = _read_json(request)
        to_openai_request(body)  # the same validation as /v1/messages
    except GatewayError as error:
        return _error(error)
    return _json({"input_tokens": estimate_input_tokens(body)}, headers={"x-gateway-token-count": "estimate"})
