"""Serving one `POST /v1/messages`, framework-free: headers, query and the body in, a `MessagesAnswer` out.

Both fronts call it: the fast ASGI front (proxy.fronts.asgi, what clients reach) and the ninja route
(the OpenAPI schema, Django's test client). The request is translated to the chat shape for the
pipeline (routing, keys, limits, usage rows) and also handed over as it is (a NativeRequest): an
Anthropic candidate gets it near verbatim and its answer comes back unchanged
(providers.anthropic.native); other candidates get the translation, and their answer is translated
back. The gateway key comes as `x-api-key` (Anthropic's clients) or a bearer token, and is checked
before the body is read. Every error, the pipeline's included, is answered in Anthropic's shape
`{"type": "error", "error": {"type", "message"}}` with the pipeline's status.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass

import orjson

from apikeys.gate import authenticate_request
from core.errors import GatewayError, InvalidRequest
from providers.anthropic.native import PROTOCOL as NATIVE_PROTOCOL
from providers.base import NativeRequest
from proxy.fronts.messages.stream import anthropic_events, native_events
from proxy.fronts.messages.translate_request import dropped_fields, to_openai_request
from proxy.fronts.messages.translate_response import error_body, to_anthropic_message
from proxy.pipeline import handle_chat

logger = logging.getLogger(__name__)

WARNING_HEADER = "x-gateway-warning"
SSE_CONTENT_TYPE = "text/event-stream"


@dataclass(slots=True)
class MessagesAnswer:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None  # Anthropic's event stream, when the client asked for one

    @property
    def content_type(self) -> str:
        return SSE_CONTENT_TYPE if self.stream is not None else "application/json"


def parse_body(raw: bytes) -> object:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON ({exc}).") from None


def with_request_id(headers: dict[str, str]) -> dict[str, str]:
    """Anthropic's SDKs read the request id from `request-id`."""
    return {**headers, "request-id": headers["x-request-id"]} if "x-request-id" in headers else headers


def error_answer(error: GatewayError) -> MessagesAnswer:
    body = orjson.dumps(error_body(error.status, error.message))
    return MessagesAnswer(error.status, with_request_id(error.headers), body)


async def serve_message(
    headers: Mapping[str, str], query: Mapping[str, str], client_host: str | None,
    read_body: Callable[[], Awaitable[bytes]],
) -> MessagesAnswer:
    """Never raises a GatewayError: it becomes the answer. `read_body` may raise PayloadTooLarge (413)."""
    try:
        access = await authenticate_request(headers, client_host)  # before the body: no key, nothing learnt
        body = parse_body(await read_body())
        skipped: list[str] = []
        chat = to_openai_request(body, skipped)
        native = NativeRequest(NATIVE_PROTOCOL, body, {"anthropic-beta": headers.get("anthropic-beta", "")},
                               {"beta": query.get("beta", "")}, untranslatable=tuple(skipped))
        result = await handle_chat(orjson.dumps(chat), headers, client_host, access=access, native=native)
    except GatewayError as error:
        return error_answer(error)
    answer_headers = with_request_id(result.headers)
    dropped = [] if result.native else dropped_fields(body)
    if dropped:
        answer_headers[WARNING_HEADER] = f"dropped, the backend has no equivalent: {', '.join(dropped)}"
    if result.stream is not None:
        events = (native_events(result.stream) if result.native
                  else anthropic_events(result.stream, model=chat["model"]))
        return MessagesAnswer(result.status, answer_headers, stream=events)
    if result.native:
        return MessagesAnswer(result.status, answer_headers, result.body or b"")
    try:
        completion = orjson.loads(result.body or b"")
    except orjson.JSONDecodeError:
        logger.warning("upstream answer for %s is not JSON", answer_headers.get("x-request-id"))
        return MessagesAnswer(502, answer_headers,
                              orjson.dumps(error_body(502, "The upstream answer was not valid JSON.")))
    return MessagesAnswer(result.status, answer_headers,
                          orjson.dumps(to_anthropic_message(completion, model=chat["model"])))
