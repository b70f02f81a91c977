"""Ollama's native API: POST `/api/chat`, answers as one JSON object or an NDJSON stream."""

from __future__ import annotations

import re
import time

import orjson

from providers import catalogue
from providers.base import (
    MAX_ERROR_BODY_BYTES,
    ChatStream,
    Completion,
    Provider,
    ProviderError,
    StreamEvent,
    Usage,
)
from providers.http import UpstreamRequest, UpstreamResponse, UpstreamTransportError
from providers.ollama.translate import (
    StreamTranslator,
    TranslationError,
    completion_from_ollama,
    to_ollama_request,
)
from providers.specs import ModelSpec

_API_SUFFIX = re.compile(r"/(v1|api)$")
MAX_LINE_BYTES = 4 * 1024 * 1024


def ollama_root(base_url: str) -> str:
    """`http://host:11434`, also from a base URL written for the `/v1` API or ending in `/api`."""
    return _API_SUFFIX.sub("", base_url.rstrip("/"))


class OllamaProvider(Provider):
    kind = "ollama"
    read_catalogue = staticmethod(catalogue.read_ollama_tags)

    @property
    def url(self) -> str:
        return f"{ollama_root(self.spec.base_url)}/api/chat"

    def _headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json", "user-agent": "llm-gateway/0.1"}
        if self.spec.api_key:  # a remote Ollama behind an authenticating proxy
            headers["authorization"] = f"Bearer {self.spec.api_key}"
        return headers

    def _payload(self, body: dict, model: ModelSpec, stream: bool) -> bytes:
        try:
            return orjson.dumps(to_ollama_request(body, model.upstream_name, stream=stream))
        except TranslationError as exc:
            raise self.translation_error(exc) from None

    async def complete(self, body: dict, model: ModelSpec) -> Completion:
        payload = self._payload(body, model, stream=False)
        response = await self._send(payload, "application/json")
        raw = await self.read_answer(response, self._status_error)
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ProviderError(f"Provider '{self.spec.name}' returned a response that is not valid JSON.",
                                retryable=True, code="upstream_bad_response") from None
        if not isinstance(data, dict) or data.get("error") or data.get("done") is not True:
            raise self._embedded_error(data)
        completion = completion_from_ollama(data, model=model.upstream_name, created=int(time.time()))
        return Completion(body=orjson.dumps(completion), usage=Usage.from_openai(completion["usage"]),
                          upstream_model=completion["model"])

    async def stream(self, body: dict, model: ModelSpec) -> ChatStream:
        payload = self._payload(body, model, stream=True)
        response = await self._send(payload, "application/x-ndjson")
        await self.expect_stream(response, self._status_error)
        return OllamaChatStream(self, response, StreamTranslator(model=model.upstream_name, created=int(time.time())))

    async def _send(self, payload: bytes, accept: str) -> UpstreamResponse:
        headers = {**self._headers(), "accept": accept}
        return await self.send(UpstreamRequest("POST", self.url, content=payload, headers=headers))


    async def _status_error(self, response: UpstreamResponse) -> ProviderError:
        try:
            raw = await response.read(MAX_ERROR_BODY_BYTES, truncate=True)
        except UpstreamTransportError:
            raw = b""
        message = ollama_error(raw)
        status, name = response.status, self.spec.name
        detail = f": {self.redact(message)}" if message else ""
        if status in (401, 403):
            return ProviderError(f"Provider '{name}' rejected the gateway's credentials ({status}).", retryable=True,
                                 status=502, upstream_status=status, code="upstream_auth_failed")
        if status == 429:
            return ProviderError(f"Provider '{name}' is rate limiting requests{detail}", retryable=True, status=429,
                                 upstream_status=status, error_type="rate_limit_error", code="upstream_rate_limited",
                                 retry_after=response.headers.get("retry-after"))
        if status >= 500 or status == 408:
            return ProviderError(f"Provider '{name}' failed with {status}{detail}", retryable=True, status=502,
                                 upstream_status=status, code="upstream_server_error")
        return ProviderError(
            f"Provider '{name}' refused the request ({status}){detail}", retryable=False,
            status=status if 400 <= status < 500 else 502, upstream_status=status,
            error_type="invalid_request_error", code="model_not_found" if status == 404 else None,
        )

    def _embedded_error(self, data: object) -> ProviderError:
        message = ollama_error(orjson.dumps(data)) or "no finished answer"
        return ProviderError(f"Provider '{self.spec.name}' returned an error instead of an answer: "
                             f"{self.redact(message)}", retryable=True, code="upstream_error")


class OllamaChatStream(ChatStream):
    """Reads NDJSON lines; complete only once the `done: true` object arrived."""

    def __init__(self, provider: OllamaProvider, response: UpstreamResponse, translator: StreamTranslator) -> None:
        self._provider = provider
        self._response = response
        self._chunks = response.iter_chunks()
        self._translator = translator
        self._buffer = b""
        self._ready: list[dict] = []
        self._error: ProviderError | None = None  # raised once the chunks read before it are delivered

    async def __anext__(self) -> StreamEvent:
        while not self._ready:
            if self._error is not None:
                raise self._error
            if self._translator.done:
                await self.aclose()
                raise StopAsyncIteration
            try:
                await self._read()
            except ProviderError as error:
                self._error = error
                await self.aclose()
        chunk = self._ready.pop(0)
        return StreamEvent(data=orjson.dumps(chunk), chunk=chunk)

    async def _read(self) -> None:
        name = self._provider.spec.name
        try:
            chunk = await self._chunks.__anext__()
        except StopAsyncIteration:
            await self.aclose()
            if self._buffer.strip():
                self._feed_line(self._buffer)  # a last line without its newline
                self._buffer = b""
            if not self._translator.done:
                raise ProviderError(f"Provider '{name}' closed the stream before the answer was complete.",
                                    retryable=True, code="upstream_stream_incomplete") from None
            return
        except UpstreamTransportError as exc:
            raise self._provider.transport_error(exc) from exc
        *lines, self._buffer = (self._buffer + chunk).split(b"\n")
        if len(self._buffer) > MAX_LINE_BYTES:
            raise ProviderError(f"Provider '{name}' sent a stream line longer than {MAX_LINE_BYTES} bytes.",
                                retryable=True, code="upstream_bad_stream")
        for line in lines:
            if line.strip() and not self._translator.done:
                self._feed_line(line)

    def _feed_line(self, line: bytes) -> None:
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise ProviderError(f"Provider '{self._provider.spec.name}' sent a stream line that is not valid JSON.",
                                retryable=True, code="upstream_bad_stream") from None
        if not isinstance(data, dict) or data.get("error"):
            raise self._provider._embedded_error(data)
        self._ready.extend(self._translator.feed(data))

    async def aclose(self) -> None:
        await self._response.aclose()


def ollama_error(raw: bytes) -> str:
    """The message of an Ollama error body (`{"error": "..."}`), or its first bytes when it is not JSON."""
    try:
        data = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return raw[:300].decode("utf-8", "replace").strip()
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        error = error.get("message")
    return str(error)[:1000] if error else ""
