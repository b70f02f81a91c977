"""The Anthropic Messages API (`kind: anthropic`) behind the gateway's OpenAI-speaking Provider interface.

POST `{base_url}/v1/messages` (a base URL already ending in `/v1` is accepted too) with `x-api-key`
and `anthropic-version`. Translation lives in pure modules beside this one; this module only does
HTTP: bounded reads, status and transport errors, and the stream's lifecycle.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import orjson

from providers import catalogue
from providers.anthropic import errors, native
from providers.anthropic.errors import AnthropicAPIError, MalformedResponse, UnsupportedFeature
from providers.anthropic.event_stream import AnthropicEventStream
from providers.anthropic.stream import StreamTranslator
from providers.anthropic.translate_request import Translated, to_anthropic
from providers.anthropic.translate_response import to_openai_completion, usage_counts
from providers.base import (
    MAX_ERROR_BODY_BYTES,
    ChatStream,
    Completion,
    NativeRequest,
    Provider,
    ProviderError,
    StreamEvent,
)
from providers.http import UpstreamRequest, UpstreamResponse, UpstreamTransportError
from providers.specs import ModelSpec

ANTHROPIC_VERSION = "2023-06-01"


class AnthropicProvider(Provider):
    kind = "anthropic"
    read_catalogue = staticmethod(catalogue.read_anthropic_models)
    native_protocols = frozenset({native.PROTOCOL})

    @property
    def url(self) -> str:
        base = self.spec.base_url
        return f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"

    def _headers(self, accept: str) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": accept, "user-agent": "llm-gateway/0.1",
                   "anthropic-version": ANTHROPIC_VERSION}
        if self.spec.api_key:
            headers["x-api-key"] = self.spec.api_key
        return headers

    def _translate(self, body: dict, model: ModelSpec, stream: bool) -> Translated:
        try:
            translated = to_anthropic(body, model.upstream_name)
        except UnsupportedFeature as exc:
            raise errors.unsupported(self.spec, exc.feature) from None
        if stream:
            translated.payload["stream"] = True
        else:
            translated.payload.pop("stream", None)
        return translated

    async def complete(self, body: dict, model: ModelSpec) -> Completion:
        translated = self._translate(body, model, stream=False)
        request = UpstreamRequest(
            "POST", self.url, content=orjson.dumps(translated.payload), headers=self._headers("application/json")
        )
        response = await self.send(request)
        raw = await self.read_answer(response, self._status_error)
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise errors.malformed(self.spec, "returned a response that is not valid JSON.") from None
        if isinstance(data, dict) and data.get("type") == "error":
            raise errors.event_error(self.spec, errors.error_from_dict(data) or AnthropicAPIError("api_error", ""),
                                     self.redact)
        try:
            completion = to_openai_completion(data, created=int(time.time()), json_tool=translated.json_tool)
        except MalformedResponse as exc:
            raise errors.malformed(self.spec, f"{exc}.") from None
        return Completion(
            body=orjson.dumps(completion), usage=usage_counts(data.get("usage")),
            upstream_model=completion["model"],
        )

    async def stream(self, body: dict, model: ModelSpec) -> ChatStream:
        translated = self._translate(body, model, stream=True)
        request = UpstreamRequest(
            "POST", self.url, content=orjson.dumps(translated.payload),
            headers={**self._headers("text/event-stream"), "accept-encoding": "identity"},
        )
        response = await self.send(request)
        await self.expect_stream(response, self._status_error)
        return AnthropicChatStream(self, response, StreamTranslator(int(time.time()), translated.json_tool))

    def _native_request(self, request: NativeRequest, model: ModelSpec, *, stream: bool) -> UpstreamRequest:
        query = native.forwarded_query(request.query)
        url = f"{self.url}?{urlencode(query)}" if query else self.url
        headers = {**self._headers("text/event-stream" if stream else "application/json"),
                   **native.forwarded_headers(request.headers)}
        if stream:
            headers["accept-encoding"] = "identity"
        return UpstreamRequest("POST", url, content=native.payload(request, model.upstream_name, stream=stream),
                               headers=headers)

    async def complete_native(self, request: NativeRequest, model: ModelSpec) -> Completion:
        """The client's Messages request as it is; the answer's bytes go back unchanged."""
        response = await self.send(self._native_request(request, model, stream=False))
        raw = await self.read_answer(response, self._status_error)
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise errors.malformed(self.spec, "returned a response that is not valid JSON.") from None
        if not isinstance(data, dict) or data.get("type") != "message":
            failure = errors.error_from_dict(data)
            if failure is not None:
                raise errors.event_error(self.spec, failure, self.redact)
            raise errors.malformed(self.spec, "returned something that is not a Messages answer.")
        return Completion(body=raw, usage=usage_counts(data.get("usage")),
                          upstream_model=str(data.get("model") or ""), native=True)

    async def stream_native(self, request: NativeRequest, model: ModelSpec) -> ChatStream:
        response = await self.send(self._native_request(request, model, stream=True))
        await self.expect_stream(response, self._status_error)
        return native.NativeStream(self, response, StreamTranslator(int(time.time())))

    async def _status_error(self, response: UpstreamResponse) -> ProviderError:
        try:
            raw = await response.read(MAX_ERROR_BODY_BYTES, truncate=True)
        except UpstreamTransportError:
            raw = b""
        return errors.status_error(
            self.spec, response.status, raw, response.headers.get("retry-after"), self.redact
        )


class AnthropicChatStream(AnthropicEventStream):
    """Reads Anthropic's SSE and yields the translated OpenAI chunks as each event arrives."""

    def _emit(self, data: bytes, event: Any, chunks: list[dict]) -> None:
        self._ready.extend(
            StreamEvent(data=orjson.dumps(chunk), chunk=chunk,
                        usage=usage_counts(self._translator.raw_usage) if "usage" in chunk else None)
            for chunk in chunks)
