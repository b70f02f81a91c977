"""The provider interface: one subclass per wire protocol, registered by `kind`.

Every provider speaks OpenAI's chat-completions format to the gateway, whatever it speaks upstream.
Failures are one exception, `ProviderError`; fallback reads only its `retryable` flag.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.conf import settings

from providers.http import (
    UpstreamBodyTooLarge,
    UpstreamClient,
    UpstreamConnectError,
    UpstreamConnectTimeout,
    UpstreamReadTimeout,
    UpstreamRequest,
    UpstreamResponse,
    UpstreamTransportError,
)
from providers.specs import ModelSpec, ProviderSpec
from providers.sse import SSEDecoder
from providers.translation import TranslationError

MAX_ERROR_BODY_BYTES = 64 * 1024  # what is read of an upstream error body, for its message

# A list while a request wants its upstream requests recorded (the admin's playground): every request a
# provider sends is appended, exactly as sent. None (the default) for every other request.
upstream_capture: ContextVar[list[UpstreamRequest] | None] = ContextVar("upstream_capture", default=None)


@dataclass(slots=True)
class Usage:
    """Token counts in OpenAI's terms. `prompt_tokens` includes the cached ones (OpenAI's
    `prompt_tokens_details.cached_tokens`, Anthropic's cache reads and writes, which a translation adds in);
    `completion_tokens` includes reasoning tokens. The details let cost price each part as the provider does."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens read from the provider's prompt cache
    cache_creation_tokens: int = 0  # prompt tokens written to it (Anthropic's cache_creation_input_tokens)
    reasoning_tokens: int = 0  # completion tokens spent thinking
    estimated: bool = False  # counted by the gateway because the upstream reported none

    @classmethod
    def from_openai(cls, usage: Any) -> Usage | None:
        if not isinstance(usage, dict):
            return None
        prompt = _as_int(usage.get("prompt_tokens"))
        completion = _as_int(usage.get("completion_tokens"))
        total = _as_int(usage.get("total_tokens")) or prompt + completion
        prompt_details = usage.get("prompt_tokens_details")
        completion_details = usage.get("completion_tokens_details")
        cached = _as_int(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else 0
        reasoning = (_as_int(completion_details.get("reasoning_tokens"))
                     if isinstance(completion_details, dict) else 0)
        # Anthropic's cache writes, which providers.anthropic adds beside OpenAI's fields (as LiteLLM does).
        written = _as_int(usage.get("cache_creation_input_tokens"))
        return cls(prompt, completion, total, cached_tokens=cached, cache_creation_tokens=written,
                   reasoning_tokens=reasoning)


def _as_int(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


@dataclass(slots=True)
class NativeRequest:
    """The client's request in a backend's own protocol (e.g. Anthropic in → Anthropic out).

    A provider that speaks `protocol` (its `native_protocols`) sends `body` near verbatim instead of the
    chat-shaped translation, so nothing the chat shape cannot carry is lost (thinking and its signatures,
    cache_control, context_management, ...), and answers in the same protocol (`Completion.native`,
    `ChatStream.native`). Routing, keys, limits and usage rows still run on the chat-shaped request.
    """

    protocol: str  # e.g. "anthropic-messages"
    body: dict  # as the client sent it; the provider sets the upstream model and `stream`
    headers: dict[str, str] = field(default_factory=dict)  # protocol headers worth forwarding (lower-case)
    query: dict[str, str] = field(default_factory=dict)  # protocol query parameters worth forwarding
    # What the chat-shaped translation had to leave out (e.g. "tools.3: server tools ..."): a provider that
    # does not speak `protocol` must refuse the request rather than answer a different question.
    untranslatable: tuple[str, ...] = ()
    # System text the gateway's own steps added (a role strategy, a context block), in order: the provider
    # places it after the client's own system content, the way the chat-shaped translation does.
    added_system: tuple[str, ...] = ()
    prepended_system: tuple[str, ...] = ()  # the same, placed before the client's system content
    max_tokens: int | None = None  # the output limit the gateway lowered to fit the model's window


@dataclass(slots=True)
class Completion:
    """A whole (non-streamed) answer: `body` is sent to the client byte for byte.

    `native`: the body is in the client's own protocol (a NativeRequest answered), not OpenAI's."""

    body: bytes
    usage: Usage | None
    upstream_model: str = ""
    native: bool = False


@dataclass(slots=True)
class StreamEvent:
    """One OpenAI `chat.completion.chunk`: its JSON bytes as they go on the wire, and the parsed dict.

    On a native stream `data` is the provider's own SSE frame(s), sent as they are; `chunk` is empty
    then, `translated` holds the equivalent OpenAI chunks (for subscribers that assemble the answer)
    and `usage` the counts once the provider has reported them."""

    data: bytes
    chunk: dict
    translated: tuple[dict, ...] = ()
    usage: Usage | None = None


class ProviderError(Exception):
    """An upstream failure. `retryable`: another candidate may succeed (network, timeout, 429, 5xx).

    `status` is what the client should see if this is the last word; `upstream_status` what the
    provider answered (None when it never answered).
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int = 502,
        upstream_status: int | None = None,
        error_type: str = "upstream_error",
        code: str | None = None,
        retry_after: str | None = None,
        retry_after_ms: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status
        self.upstream_status = upstream_status
        self.error_type = error_type
        self.code = code
        self.retry_after = retry_after  # the upstream's Retry-After, passed on to the client when it is the last word
        self.retry_after_ms = retry_after_ms  # its retry-after-ms (OpenAI, Azure): read by retries, never passed on


class ChatStream(ABC):
    """An open upstream stream, iterated as OpenAI chunks; ends normally only on a complete answer.

    Raises ProviderError mid-iteration when the upstream fails or stops early. `aclose` releases the
    upstream connection and is safe to call twice. A `native` stream yields the provider's own frames
    (see StreamEvent), its last frame ends the answer, and `error_frame` tells a failure in its protocol.
    """

    native: ClassVar[bool] = False
    upstream_model: str = ""  # a native stream's model, once the provider has named it

    def error_frame(self, error: ProviderError) -> bytes:
        """A failure after the stream was committed, as the native protocol tells it (native streams only)."""
        raise NotImplementedError

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self

    @abstractmethod
    async def __anext__(self) -> StreamEvent: ...

    @abstractmethod
    async def aclose(self) -> None: ...


class Provider(ABC):
    kind: ClassVar[str]
    # NativeRequest protocols this provider sends as they are (complete_native / stream_native).
    native_protocols: ClassVar[frozenset[str]] = frozenset()
    # How discovery reads this kind's model catalogue (providers.catalogue); None: it has none.
    read_catalogue: ClassVar[Callable | None] = None

    def __init__(self, spec: ProviderSpec, client: UpstreamClient) -> None:
        self.spec = spec
        self.client = client

    @abstractmethod
    async def complete(self, body: dict, model: ModelSpec) -> Completion:
        """Send a non-streaming request. Raises ProviderError."""

    @abstractmethod
    async def stream(self, body: dict, model: ModelSpec) -> ChatStream:
        """Open a streaming request; returns once the upstream accepted it. Raises ProviderError."""

    def speaks(self, native: NativeRequest | None) -> bool:
        return native is not None and native.protocol in self.native_protocols

    def refusal_of(self, native: NativeRequest | None) -> ProviderError | None:
        """The unsupported-feature error when this provider would get a translation that left things out."""
        if native is None or not native.untranslatable or self.speaks(native):
            return None
        return ProviderError(
            f"{'; '.join(native.untranslatable)} (provider '{self.spec.name}', {self.kind}: only a backend "
            "speaking the request's own protocol takes them)", retryable=True, status=400,
            error_type="invalid_request_error", code="unsupported_feature",
        )

    async def complete_native(self, request: NativeRequest, model: ModelSpec) -> Completion:
        """Send a request in this provider's own protocol (only for `native_protocols`). Raises ProviderError."""
        raise NotImplementedError

    async def stream_native(self, request: NativeRequest, model: ModelSpec) -> ChatStream:
        """Open a stream in this provider's own protocol (only for `native_protocols`). Raises ProviderError."""
        raise NotImplementedError

    async def embed(self, body: dict, model: ModelSpec) -> Completion:
        """An OpenAI embeddings request; the answer as OpenAI's embeddings list. Raises ProviderError:
        by default an unsupported-feature one, so that fallback moves on to a provider that can."""
        raise ProviderError(f"Embeddings are not supported by provider '{self.spec.name}' ({self.kind}).",
                            retryable=True, status=400, error_type="invalid_request_error",
                            code="unsupported_feature")

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        """Send to the provider; a failure below HTTP becomes a retryable ProviderError."""
        sink = upstream_capture.get()
        if sink is not None:
            sink.append(request)
        try:
            return await self.client.send(request)
        except UpstreamTransportError as exc:
            raise self.transport_error(exc) from exc

    async def read_answer(
        self, response: UpstreamResponse, status_error: Callable[[UpstreamResponse], Awaitable[ProviderError]]
    ) -> bytes:
        """The body of a 200 (bounded by UPSTREAM_MAX_RESPONSE_BYTES), else the error `status_error` builds
        from the response. The response is closed either way."""
        try:
            if response.status != 200:
                raise await self._refusal(response, status_error)
            return await response.read(settings.UPSTREAM_MAX_RESPONSE_BYTES)
        except UpstreamTransportError as exc:
            raise self.transport_error(exc) from exc
        finally:
            await response.aclose()

    async def expect_stream(
        self, response: UpstreamResponse, status_error: Callable[[UpstreamResponse], Awaitable[ProviderError]]
    ) -> UpstreamResponse:
        """The response, if it is a 200 to stream from; else its error (and the response closed)."""
        if response.status != 200:
            try:
                raise await self._refusal(response, status_error)
            finally:
                await response.aclose()
        return response

    async def _refusal(
        self, response: UpstreamResponse, status_error: Callable[[UpstreamResponse], Awaitable[ProviderError]]
    ) -> ProviderError:
        if 300 <= response.status < 400:
            # Never followed (it could carry the key elsewhere). The client's request was fine: another
            # provider may serve it, and the operator should check this provider's base URL.
            return ProviderError(
                f"Provider '{self.spec.name}' answered with a redirect ({response.status}), which the gateway "
                "does not follow: check its base URL.", retryable=True, status=502,
                upstream_status=response.status, code="upstream_redirect",
            )
        error = await status_error(response)
        # Every wire protocol's refusal carries the upstream's pacing hints, for retries on the same candidate.
        error.retry_after = error.retry_after or response.headers.get("retry-after")
        error.retry_after_ms = error.retry_after_ms or response.headers.get("retry-after-ms")
        return error

    def sse_decoder(self) -> SSEDecoder:
        """A decoder for this provider's stream: one event may be no larger than a whole answer."""
        return SSEDecoder(max_event_bytes=settings.UPSTREAM_MAX_RESPONSE_BYTES)

    def translation_error(self, exc: TranslationError) -> ProviderError:
        """A request this provider cannot take: unsupported features fall back, a wrong request is a 400."""
        if exc.unsupported:
            return ProviderError(
                f"{exc.message} is not supported by provider '{self.spec.name}' ({self.kind})", retryable=True,
                status=400, error_type="invalid_request_error", code="unsupported_feature",
            )
        return ProviderError(exc.message, retryable=False, status=400, error_type="invalid_request_error",
                             code="invalid_request")

    def transport_error(self, exc: UpstreamTransportError) -> ProviderError:
        """A failure below HTTP, for the client: all retryable, worded by what happened."""
        name = self.spec.name
        if isinstance(exc, UpstreamConnectTimeout):
            return ProviderError(f"Timed out connecting to provider '{name}'.", retryable=True, status=504,
                                 code="upstream_connect_timeout")
        if isinstance(exc, UpstreamReadTimeout):
            return ProviderError(f"Provider '{name}' sent nothing for {self.spec.timeout_seconds:g}s.",
                                 retryable=True, status=504, code="upstream_timeout")
        if isinstance(exc, UpstreamConnectError):
            return ProviderError(f"Could not connect to provider '{name}'.", retryable=True,
                                 code="upstream_unreachable")
        if isinstance(exc, UpstreamBodyTooLarge):
            return ProviderError(f"Provider '{name}' sent a response larger than the gateway accepts.",
                                 retryable=False, code="upstream_response_too_large")
        return ProviderError(f"Connection to provider '{name}' was lost ({exc}).", retryable=True,
                             code="upstream_connection_error")

    def redact(self, text: str) -> str:
        """Never let the provider's key travel back in an error message."""
        key = self.spec.api_key
        if key and key in text:
            text = text.replace(key, "[redacted]")
        return text
