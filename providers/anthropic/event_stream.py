"""Reading Anthropic's SSE stream: the loop both the translated stream (provider.AnthropicChatStream) and the
pass-through (native.NativeStream) share. Each complete event is parsed and fed to the StreamTranslator;
a subclass decides what to hand out for it (`_emit`). A failure is kept until what came before it is out."""

from __future__ import annotations

from collections import deque
from typing import Any

import orjson

from providers.anthropic import errors
from providers.anthropic.errors import AnthropicAPIError, MalformedResponse
from providers.anthropic.stream import StreamTranslator
from providers.base import ChatStream, ProviderError, StreamEvent
from providers.http import UpstreamResponse, UpstreamTransportError


class AnthropicEventStream(ChatStream):
    def __init__(self, provider, response: UpstreamResponse, translator: StreamTranslator) -> None:
        self._provider = provider
        self._response = response
        self._chunks = response.iter_chunks()
        self._decoder = provider.sse_decoder()
        self._translator = translator
        self._ready: deque[StreamEvent] = deque()
        self._failure: ProviderError | None = None  # raised once the events before it have been handed out
        self._closed = False

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
            except UpstreamTransportError as exc:  # a broken connection, or an event over the size limit
                await self.aclose()
                raise self._provider.transport_error(exc) from exc
            self._consume(payloads)

    def _at_end(self) -> None:
        """The upstream closed: a last event may lack its blank line; anything else is a cut answer."""
        self._closed = True
        if self._decoder.pending():
            self._consume(self._decoder.feed(b"\n\n"))
        if not self._translator.finished and (self._failure is None or self._failure.code == "upstream_bad_stream"):
            # Cut mid-event shows up as a half event that does not parse: it is the same failure.
            self._failure = errors.malformed(self._provider.spec, "closed the stream before the answer was complete.",
                                             code="upstream_stream_incomplete")

    def _consume(self, payloads: list[bytes]) -> None:
        spec = self._provider.spec
        for data in payloads:
            if self._failure is not None or self._translator.finished:
                return
            try:
                event: Any = orjson.loads(data)
                chunks = self._translator.feed(event)
            except orjson.JSONDecodeError:
                self._failure = errors.malformed(spec, "sent an event that is not valid JSON.",
                                                 code="upstream_bad_stream")
            except AnthropicAPIError as exc:
                self._failure = errors.event_error(spec, exc, self._provider.redact)
            except MalformedResponse as exc:
                self._failure = errors.malformed(spec, f"{exc}.", code="upstream_bad_stream")
            else:
                self._emit(data, event, chunks)

    def _emit(self, data: bytes, event: Any, chunks: list[dict]) -> None:
        """Queue in `_ready` what this event gives the client: the event itself, or its translation."""
        raise NotImplementedError

    async def aclose(self) -> None:
        self._closed = True
        await self._response.aclose()
