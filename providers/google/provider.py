"""Gemini models over Google's two front doors: the Gemini API (API key) and Vertex AI (service account).

Both speak `generateContent` / `streamGenerateContent?alt=sse`; they differ only in URL and auth.
Translation lives in `request` and `response`; this module does HTTP, errors and the stream.
"""

from __future__ import annotations

import re
import time
from abc import abstractmethod
from typing import NamedTuple
from urllib.parse import quote

import orjson

from core.tokens import count_tokens_async
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
from providers.google import embeddings
from providers.google.auth import VertexAuthError, tokens, vertex_settings
from providers.google.request import TranslationError, to_gemini_request
from providers.google.response import BlockedPrompt, StreamTranslator, completion_from_gemini
from providers.http import UpstreamRequest, UpstreamResponse, UpstreamTransportError
from providers.specs import ModelSpec

_VERSIONED = re.compile(r"/v1(alpha|beta|beta1)?$")
_RETRY_DELAY = re.compile(r"^(\d+)(\.\d+)?s$")
# ErrorInfo reasons that mean the gateway's own credentials were refused, whatever the HTTP status
# (the Gemini API answers a bad key with 400 INVALID_ARGUMENT).
CREDENTIAL_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED",
                                "ACCESS_TOKEN_EXPIRED", "ACCESS_TOKEN_TYPE_UNSUPPORTED"})


class GoogleProvider(Provider):
    """What the Gemini API and Vertex AI share; subclasses say where to send and how to authenticate."""

    @abstractmethod
    async def _endpoint(self, model: ModelSpec, method: str) -> tuple[str, dict[str, str]]:
        """(URL without query, headers) for a `generateContent`-family method. Raises ProviderError."""

    def _payload(self, body: dict) -> bytes:
        try:
            return orjson.dumps(to_gemini_request(body))
        except TranslationError as exc:
            raise self.translation_error(exc) from None

    async def complete(self, body: dict, model: ModelSpec) -> Completion:
        payload = self._payload(body)
        url, headers = await self._endpoint(model, "generateContent")
        response = await self.send(UpstreamRequest("POST", url, content=payload, headers=headers))
        raw = await self.read_answer(response, lambda r: self._status_error(r, headers))
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ProviderError(f"Provider '{self.spec.name}' returned a response that is not valid JSON.",
                                retryable=True, code="upstream_bad_response") from None
        if not isinstance(data, dict) or "error" in data:
            raise self._embedded_error(data)
        try:
            completion = completion_from_gemini(data, model=model.upstream_name, created=int(time.time()))
        except BlockedPrompt as exc:
            raise self._blocked(exc) from None
        except (ValueError, AttributeError, TypeError):
            raise ProviderError(f"Provider '{self.spec.name}' returned no answer.", retryable=True,
                                code="upstream_bad_response") from None
        return Completion(body=orjson.dumps(completion), usage=Usage.from_openai(completion.get("usage")),
                          upstream_model=completion["model"])

    async def stream(self, body: dict, model: ModelSpec) -> ChatStream:
        payload = self._payload(body)
        url, headers = await self._endpoint(model, "streamGenerateContent")
        request = UpstreamRequest(
            "POST", f"{url}?alt=sse", content=payload,
            headers={**headers, "accept": "text/event-stream", "accept-encoding": "identity"},
        )
        response = await self.send(request)
        await self.expect_stream(response, lambda r: self._status_error(r, headers))
        return GeminiChatStream(self, response, StreamTranslator(model=model.upstream_name, created=int(time.time())))

    # --- embeddings ---------------------------------------------------------------------------------

    @abstractmethod
    def _embed_request(self, body: dict, model: ModelSpec) -> tuple[str, dict]:
        """(method, payload) of an embeddings request. Raises TranslationError."""

    @abstractmethod
    def _embed_vectors(self, data: object) -> tuple[list[list[float]], int | None]:
        """(vectors, input tokens or None when the answer has no count). Raises ValueError."""

    async def embed(self, body: dict, model: ModelSpec) -> Completion:
        try:
            method, payload = self._embed_request(body, model)
        except TranslationError as exc:
            raise self.translation_error(exc) from None
        url, headers = await self._endpoint(model, method)
        response = await self.send(UpstreamRequest("POST", url, content=orjson.dumps(payload), headers=headers))
        raw = await self.read_answer(response, lambda r: self._status_error(r, headers))
        try:
            data = orjson.loads(raw)
            vectors, counted = self._embed_vectors(data)
        except (orjson.JSONDecodeError, ValueError):
            raise ProviderError(f"Provider '{self.spec.name}' returned no embeddings.", retryable=True,
                                code="upstream_bad_response") from None
        tokens_in = counted
        if tokens_in is None:  # the Gemini API reports none: count the input the way the gateway counts
            tokens_in = sum([await count_tokens_async(text) for text in embeddings.input_texts(body)])
        answer = embeddings.openai_embeddings(vectors, model=model.upstream_name, prompt_tokens=tokens_in,
                                              encoding_format=body.get("encoding_format"))
        return Completion(body=orjson.dumps(answer),
                          usage=Usage(tokens_in, 0, tokens_in, estimated=counted is None),
                          upstream_model=model.upstream_name)

    # --- errors -------------------------------------------------------------------------------------


    async def _status_error(self, response: UpstreamResponse, headers: dict[str, str]) -> ProviderError:
        try:
            raw = await response.read(MAX_ERROR_BODY_BYTES, truncate=True)
        except UpstreamTransportError:
            raw = b""
        error = google_error(raw)
        google_status = error.status
        status, name = response.status, self.spec.name
        detail = f": {self.redact(error.message)}" if error.message else ""
        if status in (401, 403) or error.reason in CREDENTIAL_REASONS:
            self._rejected(headers)
            return ProviderError(
                f"Provider '{name}' rejected the gateway's credentials ({status}){detail}", retryable=True,
                status=502, upstream_status=status, code="upstream_auth_failed",
            )
        if status == 429:
            return ProviderError(
                f"Provider '{name}' is rate limiting requests{detail}", retryable=True, status=429,
                upstream_status=status, error_type="rate_limit_error", code="upstream_rate_limited",
                retry_after=response.headers.get("retry-after") or error.retry_after,
            )
        if status >= 500 or status == 408 or google_status == "FAILED_PRECONDITION":
            # FAILED_PRECONDITION: the provider cannot serve us here (region, billing), another one may.
            return ProviderError(f"Provider '{name}' failed with {status}{detail}", retryable=True, status=502,
                                 upstream_status=status, code=google_status or "upstream_server_error")
        return ProviderError(
            f"Provider '{name}' refused the request ({status}){detail}", retryable=False,
            status=status if 400 <= status < 500 else 502, upstream_status=status,
            error_type="invalid_request_error", code=google_status,
        )

    def _rejected(self, headers: dict[str, str]) -> None:
        """The upstream refused our credentials (hook for Vertex to drop its cached token)."""

    def _embedded_error(self, data: object) -> ProviderError:
        error = google_error(orjson.dumps(data))
        detail = f": {self.redact(error.message)}" if error.message else ""
        return ProviderError(f"Provider '{self.spec.name}' returned an error instead of an answer{detail}",
                             retryable=True, code=error.status or "upstream_bad_response")

    def _blocked(self, exc: BlockedPrompt) -> ProviderError:
        return ProviderError(
            f"Provider '{self.spec.name}' blocked the prompt ({exc.reason}): rephrase the request or use another "
            "model.", retryable=False, status=400, error_type="invalid_request_error", code="content_filter",
        )


class GeminiProvider(GoogleProvider):
    """The Gemini API (generativelanguage.googleapis.com); the key goes in a header, never the URL."""

    kind = "gemini"
    read_catalogue = staticmethod(catalogue.read_gemini_models)

    async def _endpoint(self, model: ModelSpec, method: str) -> tuple[str, dict[str, str]]:
        base = self.spec.base_url
        if not _VERSIONED.search(base):
            base = f"{base}/v1beta"
        headers = {"content-type": "application/json", "user-agent": "llm-gateway/0.1"}
        if self.spec.api_key:
            headers["x-goog-api-key"] = self.spec.api_key
        return f"{base}/{gemini_model_path(model.upstream_name)}:{method}", headers

    def _embed_request(self, body: dict, model: ModelSpec) -> tuple[str, dict]:
        path = gemini_model_path(model.upstream_name)
        return "batchEmbedContents", embeddings.to_batch_embed_request(body, path)

    def _embed_vectors(self, data: object) -> tuple[list[list[float]], int | None]:
        return embeddings.vectors_from_batch_embed(data), None


class VertexProvider(GoogleProvider):
    """Vertex AI: `{base}/v1/projects/{project}/locations/{location}/publishers/google/models/{model}`."""

    kind = "vertex"

    async def _endpoint(self, model: ModelSpec, method: str) -> tuple[str, dict[str, str]]:
        config = vertex_settings()
        name = self.spec.name
        if not config.credentials_file:
            raise self._unusable("set VERTEX_CREDENTIALS_FILE (or GOOGLE_APPLICATION_CREDENTIALS) to a "
                                 "service-account key file")
        source = tokens.for_file(config.credentials_file)
        try:
            token = await source.get()
        except VertexAuthError as exc:
            if not exc.retryable:
                raise self._unusable(exc.message) from None
            raise ProviderError(f"Provider '{name}' could not get a Google access token: {exc.message}.",
                                retryable=True, code="upstream_auth_failed") from None
        project = config.project or source.project_id
        if not project:
            raise self._unusable("set VERTEX_PROJECT_ID")
        base = self.spec.base_url
        if not _VERSIONED.search(base):
            base = f"{base}/v1"
        url = (f"{base}/projects/{quote(project, safe='')}/locations/{quote(config.location, safe='')}"
               f"/publishers/google/models/{quote(model.upstream_name, safe='-._~@')}:{method}")
        headers = {"content-type": "application/json", "user-agent": "llm-gateway/0.1",
                   "authorization": f"Bearer {token}"}
        return url, headers

    def _embed_request(self, body: dict, model: ModelSpec) -> tuple[str, dict]:
        return "predict", embeddings.to_predict_request(body)

    def _embed_vectors(self, data: object) -> tuple[list[list[float]], int | None]:
        return embeddings.vectors_from_predict(data)

    def _unusable(self, what: str) -> ProviderError:
        return ProviderError(f"Provider '{self.spec.name}' (Vertex AI) is not configured: {what}.", retryable=True,
                             status=502, code="provider_not_configured")

    def _rejected(self, headers: dict[str, str]) -> None:
        token = headers.get("authorization", "").removeprefix("Bearer ")
        config = vertex_settings()
        if config.credentials_file and token:
            tokens.for_file(config.credentials_file).invalidate(token)


class GeminiChatStream(ChatStream):
    """Reads `alt=sse` events (no [DONE]: complete once a finish reason came and the body ended)."""

    def __init__(self, provider: GoogleProvider, response: UpstreamResponse, translator: StreamTranslator) -> None:
        self._provider = provider
        self._response = response
        self._chunks = response.iter_chunks()
        self._decoder = provider.sse_decoder()
        self._translator = translator
        self._ready: list[dict] = []
        self._error: ProviderError | None = None  # raised once the chunks read before it are delivered
        self._done = False

    async def __anext__(self) -> StreamEvent:
        while not self._ready:
            if self._error is not None:
                raise self._error
            if self._done:
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
            events = self._decoder.feed(await self._chunks.__anext__())
        except StopAsyncIteration:
            await self.aclose()
            self._feed(self._decoder.feed(b"\n\n"))  # an unterminated last event (raises if it is cut)
            if not self._translator.complete:
                raise ProviderError(f"Provider '{name}' closed the stream before the answer was complete.",
                                    retryable=True, code="upstream_stream_incomplete") from None
            self._done = True
            self._ready.append(self._translator.usage_chunk())
            return
        except UpstreamTransportError as exc:
            raise self._provider.transport_error(exc) from exc
        self._feed(events)

    def _feed(self, events: list[bytes]) -> None:
        name = self._provider.spec.name
        for data in events:
            try:
                event = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise ProviderError(f"Provider '{name}' sent an event that is not valid JSON.", retryable=True,
                                    code="upstream_bad_stream") from None
            if not isinstance(event, dict) or "error" in event:
                raise self._provider._embedded_error(event)
            try:
                self._ready.extend(self._translator.feed(event))
            except BlockedPrompt as exc:
                raise self._provider._blocked(exc) from None

    async def aclose(self) -> None:
        await self._response.aclose()


def gemini_model_path(name: str) -> str:
    """`gemini-2.5-flash` → `models/gemini-2.5-flash`; `models/...` and `tunedModels/...` stay as they are."""
    prefix, _, rest = name.partition("/")
    if rest and prefix in ("models", "tunedModels"):
        return f"{prefix}/{quote(rest, safe='-._~@')}"
    return f"models/{quote(name, safe='-._~@')}"


class GoogleError(NamedTuple):
    message: str = ""
    status: str | None = None  # e.g. RESOURCE_EXHAUSTED
    retry_after: str | None = None  # seconds, from a RetryInfo detail
    reason: str | None = None  # from an ErrorInfo detail, e.g. API_KEY_INVALID


def google_error(raw: bytes) -> GoogleError:
    """What a Google error body (`{"error": {"code", "message", "status", "details"}}`) says."""
    try:
        data = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return GoogleError(raw[:300].decode("utf-8", "replace").strip())
    if isinstance(data, list) and data:
        data = data[0]  # streamGenerateContent without alt=sse wraps errors in an array
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, str):
        return GoogleError(error[:1000])
    if not isinstance(error, dict):
        return GoogleError()
    retry_after = reason = None
    for detail in error.get("details") or ():
        if not isinstance(detail, dict):
            continue
        delay = detail.get("retryDelay")
        match = _RETRY_DELAY.match(delay) if isinstance(delay, str) else None
        if match:
            retry_after = str(int(match.group(1)) + (1 if match.group(2) else 0))
        if isinstance(detail.get("reason"), str):
            reason = detail["reason"]
    status = error.get("status")
    return GoogleError(str(error.get("message") or "")[:1000], str(status) if status else None, retry_after, reason)
