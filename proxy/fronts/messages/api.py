"""Thin ninja router for Anthropic's Messages API (the work is in proxy.fronts.messages.serve).

Clients reach `POST /v1/messages` through the fast ASGI front (proxy.fronts.asgi); this route serves
the same function for the OpenAPI schema and Django's test client. `count_tokens` lives only here.
"""

from __future__ import annotations

import orjson
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from ninja import Router

from apikeys.api_auth import gateway_key
from core.errors import GatewayError
from proxy.fronts.bodies import refuse_oversize
from proxy.fronts.messages.serve import MessagesAnswer, error_answer, parse_body, serve_message
from proxy.fronts.messages.tokens import estimate_input_tokens
from proxy.fronts.messages.translate_request import to_openai_request

router = Router(tags=["Anthropic-compatible"])

_ANTHROPIC_ERRORS = {"description": "Anthropic's error shape: {type: error, error: {type, message}}"}


def _response(answer: MessagesAnswer) -> HttpResponse:
    if answer.stream is not None:
        response = StreamingHttpResponse(answer.stream, status=answer.status, content_type=answer.content_type)
    else:
        response = HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)
    for name, value in answer.headers.items():
        response[name] = value
    return response


def _read_body(request: HttpRequest):
    async def read() -> bytes:
        refuse_oversize(request.headers.get("content-length"))
        return request.body

    return read


@router.post("/messages", summary="Create a message (Anthropic Messages API; streams with \"stream\": true)",
             response={200: dict}, openapi_extra={"responses": {"4XX": _ANTHROPIC_ERRORS, "5XX": _ANTHROPIC_ERRORS}})
async def create_message(request: HttpRequest):
    return _response(await serve_message(request.headers, request.GET, request.META.get("REMOTE_ADDR"),
                                          _read_body(request)))


@router.post("/messages/count_tokens", response={200: dict},
             summary="ESTIMATE a message's input tokens (about 4 characters per token; not the model's tokenizer)")
async def count_tokens(request: HttpRequest):
    try:
        await gateway_key(request)
        body = parse_body(await _read_body(request)())
        to_openai_request(body)  # the same validation as /v1/messages
    except GatewayError as error:
        return _response(error_answer(error))
    response = HttpResponse(orjson.dumps({"input_tokens": estimate_input_tokens(body)}),
                            content_type="application/json")
    response["x-gateway-token-count"] = "estimate"
    return response
