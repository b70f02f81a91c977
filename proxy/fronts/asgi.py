"""A pure-ASGI front for the hot path: POST /v1/chat/completions, /v1/responses, /v1/embeddings and
/v1/messages bypass Django.

Django's ASGI handler costs about a millisecond per request here (request signals and response
close run through per-request threads, then the middleware chain and ninja's dispatch): more than
the whole gateway may add. The pipeline is framework-free, so this front calls it directly; every
other path (admin, docs, models, status) still goes through Django. The ninja route for the same
endpoint stays: it documents the API in the OpenAPI schema and serves Django's test client.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing
from urllib.parse import parse_qsl

import orjson

from core import draining, lifecycle
from core.errors import GatewayError, PayloadTooLarge, error_body
from proxy.embeddings import handle_embeddings
from proxy.fronts.bodies import refuse_oversize
from proxy.fronts.messages.serve import MessagesAnswer, error_answer, serve_message
from proxy.fronts.responses.service import handle_responses
from proxy.pipeline import ChatResult, handle_chat, record_rejection

logger = logging.getLogger(__name__)

CHAT_PATH = "/v1/chat/completions"
RESPONSES_PATH = "/v1/responses"
EMBEDDINGS_PATH = "/v1/embeddings"
# POST paths served here: each a handler of (body, headers, client host) → ChatResult, raising GatewayError.
HANDLERS = {CHAT_PATH: handle_chat, RESPONSES_PATH: handle_responses, EMBEDDINGS_PATH: handle_embeddings}
MESSAGES_PATH = "/v1/messages"  # Anthropic's protocol end to end, errors included: its own server function


class ClientDisconnected(Exception):
    pass


class GatewayASGI:
    """Serves the hot path itself, and the lifespan protocol for servers that speak it (uvicorn):
    warm the routing snapshot at start-up, flush usage rows and close upstream pools at shutdown.
    Daphne has no lifespan; there the usage recorder flushes from a Twisted shutdown trigger, and
    SIGTERM waits for the requests counted here (core.draining)."""

    def __init__(self, fallback) -> None:
        self.fallback = fallback
        self.active_requests = 0

    async def __call__(self, scope, receive, send) -> None:
        lifecycle.install_twisted_shutdown_hook()
        draining.install_under_daphne(self._active_requests)
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":  # a WebSocket (the live feed) stays open for hours: it must not hold a drain
            await self.fallback(scope, receive, send)
            return
        self.active_requests += 1
        try:
            handler = HANDLERS.get(scope["path"]) if scope["method"] == "POST" else None
            if handler is not None:
                await serve_pipeline(handler, scope, receive, send)
            elif scope["path"] == MESSAGES_PATH and scope["method"] == "POST":
                await serve_messages(scope, receive, send)
            else:
                await self.fallback(scope, receive, send)
        finally:
            self.active_requests -= 1

    def _active_requests(self) -> int:
        return self.active_requests


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await lifecycle.startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await lifecycle.shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def serve_pipeline(handler, scope, receive, send) -> None:
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
    try:
        try:
            raw = await _read_body(receive, headers)
        except PayloadTooLarge as error:
            record_rejection(error)
            raise
        client = scope.get("client")
        result = await handler(raw, headers, client[0] if client else None)
    except ClientDisconnected:
        return
    except GatewayError as error:
        await _send_json(send, error.status, orjson.dumps(error.body()), error.headers)
        return
    except Exception:
        logger.exception("unhandled error serving %s", scope["path"])
        body = error_body("The gateway hit an internal error.", "server_error")
        await _send_json(send, 500, orjson.dumps(body), {})
        return
    if result.stream is None:
        await _send_json(send, result.status, result.body or b"", result.headers)
    else:
        await _stream_until_done_or_disconnect(result, receive, send)


async def serve_messages(scope, receive, send) -> None:
    """Anthropic's Messages API (proxy.fronts.messages.serve), answered here; errors in Anthropic's shape."""
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    client = scope.get("client")
    try:
        answer = await serve_message(headers, query, client[0] if client else None,
                                     lambda: _read_body(receive, headers))
    except ClientDisconnected:
        return
    except Exception:
        logger.exception("unhandled error serving %s", MESSAGES_PATH)
        answer = error_answer(GatewayError("The gateway hit an internal error.", status=500))
    if answer.stream is None:
        await _send_json(send, answer.status, answer.body, answer.headers)
    else:
        await _stream_until_done_or_disconnect(answer, receive, send)


async def _read_body(receive, headers: dict[str, str]) -> bytes:
    refuse_oversize(headers.get("content-length"))
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        refuse_oversize(size)
        parts.append(chunk)
        if not message.get("more_body", False):
            return parts[0] if len(parts) == 1 else b"".join(parts)


def _header_list(content_type: str, extra: dict[str, str], length: int | None = None) -> list:
    headers = [(b"content-type", content_type.encode())]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    headers.extend((name.encode("latin-1"), value.encode("latin-1")) for name, value in extra.items())
    return headers


async def _send_json(send, status: int, body: bytes, extra: dict[str, str]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": _header_list("application/json", extra, len(body))})
    await send({"type": "http.response.body", "body": body})


async def _stream_until_done_or_disconnect(result: ChatResult | MessagesAnswer, receive, send) -> None:
    """Relay the stream; a client that goes away cancels it, which closes the upstream request."""

    async def pump() -> None:
        await send({"type": "http.response.start", "status": result.status,
                    "headers": _header_list(result.content_type, result.headers)})
        async with aclosing(result.stream) as events:
            async for event in events:
                await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def wait_for_disconnect() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    streaming = asyncio.ensure_future(pump())
    watching = asyncio.ensure_future(wait_for_disconnect())
    try:
        await asyncio.wait((streaming, watching), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (streaming, watching):
            if not task.done():
                task.cancel()
        await asyncio.gather(streaming, watching, return_exceptions=True)
