"""Providers that already speak OpenAI's chat-completions API: NanoGPT, xAI, OpenRouter, OpenAI, Ollama /v1.

No translation: the request is forwarded with the upstream model name, answers go back byte for byte.
"""

from __future__ import annotations

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
from providers.specs import ModelSpec

GATEWAY_FIELDS = ("role", "conversation_id", "profile")


class OpenAICompatibleProvider(Provider):
    kind = "openai_compatible"
    read_catalogue = staticmethod(catalogue.read_openai_models)

    def _headers(self, accept: str) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": accept, "user-agent": "llm-gateway/0.1"}
        if self.spec.api_key:
            headers["authorization"] = f"Bearer {self.spec.api_key}"
        return headers

    def _payload(self, body: dict, model: ModelSpec, stream: bool) -> bytes:
        upstream = {key: value for key, value in body.items() if key not in GATEWAY_FIELDS}
        upstream["model"] = model.upstream_name
        if stream:
            # Always ask for usage so every stream is counted; the relay hides it if the client didn't ask.
            options = upstream.get("stream_options")
            upstream["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
        return orjson.dumps(upstream)

    @property
    def url(self) -> str:
        return f"{self.spec.base_url}/chat/completions"

    async def complete(self, body: dict, model: ModelSpec) -> Completion:
        payload = self._payload(body, model, stream=False)
        response = await self._send(payload, self._headers("application/json"))
        raw = await self.read_answer(response, self._status_error)
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ProviderError(
                f"Provider '{self.spec.name}' returned a response that is not valid JSON.", retryable=True
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise self._embedded_error(data)
        usage = Usage.from_openai(data.get("usage"))
        return Completion(body=raw, usage=usage, upstream_model=str(data.get("model", "")))

    async def embed(self, body: dict, model: ModelSpec) -> Completion:
        """Forwarded as sent (`encoding_format` included), the answer back byte for byte."""
        upstream = {key: value for key, value in body.items() if key not in GATEWAY_FIELDS}
        upstream["model"] = model.upstream_name
        request = UpstreamRequest("POST", f"{self.spec.base_url}/embeddings", content=orjson.dumps(upstream),
                                  headers=self._headers("application/json"))
        raw = await self.read_answer(await self.send(request), self._status_error)
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ProviderError(
                f"Provider '{self.spec.name}' returned a response that is not valid JSON.", retryable=True
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise self._embedded_error(data)
        return Completion(body=raw, usage=Usage.from_openai(data.get("usage")),
                          upstream_model=str(data.get("model", "")))

    async def stream(self, body: dict, model: ModelSpec) -> ChatStream:
        payload = self._payload(body, model, stream=True)
        response = await self._send(payload, {**self._headers("text/event-stream"), "accept-encoding": "identity"})
        await self.expect_stream(response, self._status_error)
        return OpenAIChatStream(self, response)

    async def _send(self, payload: bytes, headers: dict[str, str]) -> UpstreamResponse:
        return await self.send(UpstreamRequest("POST", self.url, content=payload, headers=headers))

    async def _status_error(self, response: UpstreamResponse) -> ProviderError:
        try:
            raw = await response.read(MAX_ERROR_BODY_BYTES, truncate=True)
        except UpstreamTransportError:
            raw = b""
        upstream_message, upstream_code = _error_details(raw)
        status = response.status
        name = self.spec.name
        detail = f": {self.redact(upstream_message)}" if upstream_message else ""
        if status in (401, 403):
            # The provider refused the gateway's own key: the client's request was fine, so never a 401.
            return ProviderError(
                f"Provider '{name}' rejected the gateway's credentials ({status}). Check its API key variable.",
                retryable=True, status=502, upstream_status=status, code="upstream_auth_failed",
            )
        if status == 429:
            return ProviderError(
                f"Provider '{name}' is rate limiting requests{detail}", retryable=True, status=429,
                upstream_status=status, error_type="rate_limit_error", code="upstream_rate_limited",
                retry_after=response.headers.get("retry-after"),
            )
        if status >= 500 or status == 408:
            return ProviderError(
                f"Provider '{name}' failed with {status}{detail}", retryable=True, status=502,
                upstream_status=status, code=upstream_code or "upstream_server_error",
            )
        return ProviderError(
            f"Provider '{name}' refused the request ({status}){detail}", retryable=False,
            status=status if 400 <= status < 500 else 502, upstream_status=status,
            error_type="invalid_request_error", code=upstream_code,
        )

    def _embedded_error(self, data: object) -> ProviderError:
        message, code = _error_details(orjson.dumps(data)) if isinstance(data, dict) else ("", None)
        detail = f": {self.redact(message)}" if message else ""
        return ProviderError(
            f"Provider '{self.spec.name}' returned an error instead of an answer{detail}",
            retryable=True, code=code or "upstream_bad_response",
        )


class OpenAIChatStream(ChatStream):
    def __init__(self, provider: OpenAICompatibleProvider, response: UpstreamResponse) -> None:
        self._provider = provider
        self._response = response
        self._chunks = response.iter_chunks()
        self._decoder = provider.sse_decoder()
        self._ready: list[bytes] = []
        # Choice indexes seen, and those that got a finish_reason: with n > 1, one finished choice is not the answer.
        self._started: set[int] = set()
        self._finished: set[int] = set()
        self._done = False

    async def __anext__(self) -> StreamEvent:
        while True:
            while self._ready:
                data = self._ready.pop(0)
                if data == b"[DONE]":
                    self._done = True
                    await self.aclose()
                    raise StopAsyncIteration
                return self._event(data)
            if self._done:
                raise StopAsyncIteration
            try:
                self._ready.extend(self._decoder.feed(await self._chunks.__anext__()))
            except StopAsyncIteration:
                await self.aclose()
                if self._finished and self._started <= self._finished and not self._decoder.pending():
                    self._done = True  # some servers omit [DONE] after a finished answer
                    raise StopAsyncIteration from None
                raise ProviderError(
                    f"Provider '{self._provider.spec.name}' closed the stream before the answer was complete.",
                    retryable=True, code="upstream_stream_incomplete",
                ) from None
            except UpstreamTransportError as exc:
                await self.aclose()
                raise self._provider.transport_error(exc) from exc

    def _event(self, data: bytes) -> StreamEvent:
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise ProviderError(
                f"Provider '{self._provider.spec.name}' sent an event that is not valid JSON.",
                retryable=True, code="upstream_bad_stream",
            ) from None
        if not isinstance(chunk, dict):
            raise ProviderError(
                f"Provider '{self._provider.spec.name}' sent an unexpected event.", retryable=True,
                code="upstream_bad_stream",
            )
        if "error" in chunk and chunk["error"]:
            raise self._provider._embedded_error(chunk)
        for choice in chunk.get("choices") or ():
            if isinstance(choice, dict):
                index = choice.get("index") if isinstance(choice.get("index"), int) else 0
                self._started.add(index)
                if choice.get("finish_reason"):
                    self._finished.add(index)
        return StreamEvent(data=data, chunk=chunk)

    async def aclose(self) -> None:
        await self._response.aclose()


def _error_details(raw: bytes) -> tuple[str, str | None]:
    """The message and code of an upstream error body, whatever its flavour of OpenAI's shape."""
    try:
        data = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return raw[:300].decode("utf-8", "replace").strip(), None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        return str(error.get("message") or "")[:1000], str(code) if code is not None else None
    if isinstance(error, str):
        return error[:1000], None
    return "", None
