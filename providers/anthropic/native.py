"""Anthropic in → Anthropic out: the client's Messages request sent as it is (see base.NativeRequest).

Translating an Anthropic request to the chat shape and back loses what the chat shape cannot carry:
thinking blocks and their signatures, `cache_control` on any block, `context_management`,
`output_config` (effort, format), `top_k`, `service_tier`, server tools, and the answer's cache counts.
So when the client speaks Messages and the candidate is Anthropic, the body goes upstream unchanged
but for three things: `model` (the candidate's upstream name), `stream` (as the dispatcher asks), and
the gateway's own routing hints (GATEWAY_FIELDS), which Anthropic would refuse as unknown fields.
The `anthropic-beta` flags and the `beta` query go with it, except what is not safe to forward
(UNSAFE_BETAS, anything that is not a plain flag). The answer comes back byte for byte: a
non-streamed message as its body, a stream frame by frame (`NativeStream`).
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any

import orjson

from providers.anthropic import errors
from providers.anthropic.errors import AnthropicAPIError, MalformedResponse
from providers.anthropic.stream import StreamTranslator
from providers.anthropic.translate_response import usage_counts
from providers.base import ChatStream, NativeRequest, ProviderError, StreamEvent
from providers.http import UpstreamResponse, UpstreamTransportError

PROTOCOL = "anthropic-messages"
# Fields the gateway reads for routing (proxy.chat_request) and Anthropic does not know.
GATEWAY_FIELDS = ("role", "profile", "conversation_id")
# `oauth-*` makes Anthropic authenticate a claude.ai OAuth token instead of the provider's key.
UNSAFE_BETAS = re.compile(r"^oauth-")
_BETA_FLAG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
ANTHROPIC_ERROR_TYPES = frozenset({
    "invalid_request_error", "authentication_error", "billing_error", "permission_error", "not_found_error",
    "request_too_large", "rate_limit_error", "api_error", "timeout_error", "overloaded_error",
})
# Frames held back before the answer starts: while only these arrived, the stream can still fall back.
_PREAMBLE = frozenset({"message_start", "ping"})


def forwarded_headers(headers: dict[str, str]) -> dict[str, str]:
    """The client's protocol headers worth sending upstream: its `anthropic-beta` flags that are safe."""
    flags = [flag.strip() for flag in headers.get("anthropic-beta", "").split(",")]
    safe = [flag for flag in flags if _BETA_FLAG.match(flag) and not UNSAFE_BETAS.match(flag)]
    return {"anthropic-beta": ",".join(dict.fromkeys(safe))} if safe else {}


def forwarded_query(query: dict[str, str]) -> dict[str, str]:
    """`?beta=true` (the SDK's beta namespace asks for it) is the one query parameter Messages defines."""
    return {"beta": "true"} if query.get("beta") == "true" else {}


def payload(request: NativeRequest, upstream_model: str, *, stream: bool) -> bytes:
    body = {name: value for name, value in request.body.items() if name not in GATEWAY_FIELDS}
    body["model"] = upstream_model
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    if request.added_system or request.prepended_system:
        body["system"] = _with_added_system(body.get("system"), request.prepended_system, request.added_system)
    if stream:
        body["stream"] = True
    else:
        body.pop("stream", None)
    return orjson.dumps(body)


def _with_added_system(system: object, prepended: tuple[str, ...], added: tuple[str, ...]) -> list:
    """The client's system blocks untouched (their cache_control included), with the gateway's text blocks
    before or after them."""
    if isinstance(system, str):
        blocks: list = [{"type": "text", "text": system}] if system else []
    elif isinstance(system, list):
        blocks = list(system)
    else:
        blocks = []
    return ([{"type": "text", "text": text} for text in prepended] + blocks
            + [{"type": "text", "text": text} for text in added])


def error_frame(error: ProviderError) -> bytes:
    """A failure after the stream was committed, as Anthropic tells one: an `error` event."""
    kind = error.code if error.code in ANTHROPIC_ERROR_TYPES else (
        "rate_limit_error" if error.status == 429 else "api_error")
    data = {"type": "error", "error": {"type": kind, "message": error.message}}
    return b"event: error\ndata: " + orjson.dumps(data) + b"\n\n"


class NativeStream(ChatStream):
    """Anthropic's event stream, forwarded frame by frame; read along (StreamTranslator) for the usage
    counts, the assembled answer and a cut or failed stream. `message_start` and `ping` are held back
    until the first content event, so a stream that fails before any content can still fall back."""

    native = True

    def __init__(self, provider, response: UpstreamResponse, translator: StreamTranslator) -> None:
        self._provider = provider
        self._response = response
        self._chunks = response.iter_chunks()
        self._decoder = provider.sse_decoder()
        self._translator = translator
        self._ready: deque[StreamEvent] = deque()
        self._held: list[bytes] = []
        self._translated: list[dict] = []
        self._failure: ProviderError | None = None
        self._content_seen = False  # once it has, every frame goes out as it arrives
        self._closed = False

    @property
    def upstream_model(self) -> str:  # type: ignore[override]
        return self._translator.model

    def error_frame(self, error: ProviderError) -> bytes:
        return error_frame(error)

    async def __anext__(self) -> StreamEvent:
        while True:
            if self._ready:
                return self._ready.popleft()
            if self._failure is not None:
                await self.aclose()
                raise self._failure
            if self._translator.finished or self._closed:
                await self.aclose()
                raise StopAsyncIteration
            try:
                payloads = self._decoder.feed(await self._chunks.__anext__())
            except StopAsyncIteration:
                self._at_end()
                continue
            except UpstreamTransportError as exc:
                await self.aclose()
                raise self._provider.transport_error(exc) from exc
            self._consume(payloads)

    def _at_end(self) -> None:
        self._closed = True
        if self._decoder.pending():
            self._consume(self._decoder.feed(b"\n\n"))
        if not self._translator.finished and (self._failure is None or self._failure.code == "upstream_bad_stream"):
            self._failure = errors.malformed(self._provider.spec, "closed the stream before the answer was complete.",
                                             code="upstream_stream_incomplete")

    def _consume(self, payloads: list[bytes]) -> None:
        spec = self._provider.spec
        for data in payloads:
            if self._failure is not None or self._translator.finished:
                return
            try:
                event: Any = orjson.loads(data)
                self._translated.extend(self._translator.feed(event))
            except orjson.JSONDecodeError:
                self._failure = errors.malformed(spec, "sent an event that is not valid JSON.",
                                                 code="upstream_bad_stream")
                return
            except AnthropicAPIError as exc:
                self._failure = errors.event_error(spec, exc, self._provider.redact)
                return
            except MalformedResponse as exc:
                self._failure = errors.malformed(spec, f"{exc}.", code="upstream_bad_stream")
                return
            kind = str(event.get("type"))
            self._held.append(b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n")
            if kind in _PREAMBLE and not self._content_seen:
                continue
            self._content_seen = True
            usage = usage_counts(self._translator.raw_usage) if kind in ("message_delta", "message_stop") else None
            self._ready.append(StreamEvent(b"".join(self._held), {}, tuple(self._translated), usage))
            self._held, self._translated = [], []

    async def aclose(self) -> None:
        self._closed = True
        await self._response.aclose()
