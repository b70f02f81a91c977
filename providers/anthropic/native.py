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
from typing import Any

import orjson

from providers.anthropic.event_stream import AnthropicEventStream
from providers.anthropic.stream import StreamTranslator
from providers.anthropic.translate_response import usage_counts
from providers.base import NativeRequest, ProviderError, StreamEvent
from providers.http import UpstreamResponse

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


class NativeStream(AnthropicEventStream):
    """Anthropic's event stream, forwarded frame by frame; read along (StreamTranslator) for the usage
    counts, the assembled answer and a cut or failed stream. `message_start` and `ping` are held back
    until the first content event, so a stream that fails before any content can still fall back."""

    native = True

    def __init__(self, provider, response: UpstreamResponse, translator: StreamTranslator) -> None:
        super().__init__(provider, response, translator)
        self._held: list[bytes] = []
        self._translated: list[dict] = []
        self._content_seen = False  # once it has, every frame goes out as it arrives

    @property
    def upstream_model(self) -> str:  # type: ignore[override]
        return self._translator.model

    def error_frame(self, error: ProviderError) -> bytes:
        return error_frame(error)

    def _emit(self, data: bytes, event: Any, chunks: list[dict]) -> None:
        self._translated.extend(chunks)
        kind = str(event.get("type"))
        self._held.append(b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n")
        if kind in _PREAMBLE and not self._content_seen:
            return
        self._content_seen = True
        usage = usage_counts(self._translator.raw_usage) if kind in ("message_delta", "message_stop") else None
        self._ready.append(StreamEvent(b"".join(self._held), {}, tuple(self._translated), usage))
        self._held, self._translated = [], []
