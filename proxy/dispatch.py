"""Calling the candidates in order until one answers, and relaying a stream to the client.

Fallback happens only before the first byte reaches the client: a non-streamed answer is whole or
nothing, and a stream is committed once its first event has been read. After that an upstream
failure ends the stream with an OpenAI-shaped error event, never a silent truncation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import orjson

from core.errors import GatewayError, UpstreamFailed, error_body
from providers import ProviderError, provider_for
from providers.base import ChatStream, Completion, Provider, StreamEvent, Usage
from providers.specs import ModelSpec
from proxy.circuit import CircuitBreaker
from routing.selection import Candidate

# The body for one candidate: the request context's `body_for` (history and strategy may depend on the model).
BodyFor = Callable[[Candidate], dict]
# How a whole answer is asked of a provider: a chat completion by default, embeddings for /v1/embeddings.
Send = Callable[[Provider, dict, ModelSpec], Awaitable[Completion]]

DONE_EVENT = b"data: [DONE]\n\n"
UNSUPPORTED_FEATURE = "unsupported_feature"  # ProviderError.code: this provider cannot serve the request as asked


@dataclass(slots=True)
class Attempt:
    provider: str
    model: str
    ms: float
    status: int | None = None  # what the upstream answered; None when it never did
    error: str = ""

    def as_dict(self) -> dict:
        return {"provider": self.provider, "model": self.model, "status": self.status, "error": self.error,
                "ms": round(self.ms, 2)}


@dataclass(slots=True)
class CallLog:
    """What happened upstream, for headers and the usage row."""

    attempts: list[Attempt] = field(default_factory=list)
    upstream_ms: float = 0.0  # time spent waiting on providers, excluded from the gateway's overhead
    chosen: Candidate | None = None

    def failed(self, candidate: Candidate, started: float, error: ProviderError) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        self.upstream_ms += elapsed
        self.attempts.append(
            Attempt(candidate.provider.name, candidate.model.public_id, elapsed, error.upstream_status,
                    error.message)
        )

    def succeeded(self, candidate: Candidate, started: float) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        self.upstream_ms += elapsed
        self.attempts.append(Attempt(candidate.provider.name, candidate.model.public_id, elapsed, 200))
        self.chosen = candidate


def _by_circuit(candidates: list[Candidate], breaker: CircuitBreaker | None) -> Iterator[Candidate]:
    """Candidates whose circuit lets them through, in order; then, as a last resort, the ones it held back."""
    held_back = []
    for candidate in candidates:
        if breaker is None or breaker.allow(candidate.provider.name):
            yield candidate
        else:
            held_back.append(candidate)
    yield from held_back


def _note(breaker: CircuitBreaker | None, candidate: Candidate, error: ProviderError | None) -> None:
    if breaker is None:
        return
    if error is not None and error.retryable and error.code != UNSUPPORTED_FEATURE:
        breaker.record_failure(candidate.provider.name)
    else:
        breaker.record_success(candidate.provider.name)  # it answered, even if to refuse


def send_chat(provider: Provider, body: dict, model: ModelSpec) -> Awaitable[Completion]:
    return provider.complete(body, model)


async def complete_with_fallback(
    candidates: list[Candidate], body_for: BodyFor, log: CallLog, breaker: CircuitBreaker | None = None,
    send: Send = send_chat,
) -> Completion:
    """Raises GatewayError: the upstream's own refusal (not retryable) or 502 when all candidates failed."""
    errors: list[ProviderError] = []
    for candidate in _by_circuit(candidates, breaker):
        started = time.perf_counter()
        try:
            completion = await send(provider_for(candidate.provider), body_for(candidate), candidate.model)
        except ProviderError as error:
            log.failed(candidate, started, error)
            _note(breaker, candidate, error)
            if not error.retryable:
                raise _client_error(error) from None
            errors.append(error)
            continue
        log.succeeded(candidate, started)
        _note(breaker, candidate, None)
        return completion
    raise _all_failed(errors, log)


async def open_stream_with_fallback(
    candidates: list[Candidate], body_for: BodyFor, log: CallLog, breaker: CircuitBreaker | None = None
) -> tuple[ChatStream, StreamEvent]:
    """Opens the first candidate that accepts and sends a first event; returns both, uncommitted."""
    errors: list[ProviderError] = []
    for candidate in _by_circuit(candidates, breaker):
        started = time.perf_counter()
        stream: ChatStream | None = None
        try:
            stream = await provider_for(candidate.provider).stream(body_for(candidate), candidate.model)
            first = await anext(stream)
        except StopAsyncIteration:
            error = ProviderError(
                f"Provider '{candidate.provider.name}' ended the stream without an answer.", retryable=True,
                code="upstream_empty_stream",
            )
        except ProviderError as exc:
            error = exc
        except asyncio.CancelledError:
            if stream is not None:
                await stream.aclose()
            raise
        else:
            log.succeeded(candidate, started)
            _note(breaker, candidate, None)
            return stream, first
        if stream is not None:
            await stream.aclose()
        log.failed(candidate, started, error)
        _note(breaker, candidate, error)
        if not error.retryable:
            raise _client_error(error)
        errors.append(error)
    raise _all_failed(errors, log)


@dataclass(slots=True)
class Answer:
    """The assembled answer of choice 0, bounded in size, for subscribers that keep exchanges."""

    text: str = ""
    tool_calls: list[dict] = field(default_factory=list)
    truncated: bool = False


@dataclass(slots=True)
class StreamOutcome:
    usage: Usage | None = None
    first_byte_at: float | None = None
    status: str = "ok"
    error: ProviderError | None = None
    assemble: bool = False  # build `answer` from the deltas (only when a subscriber wants it)
    answer: Answer | None = None


class StreamRelay:
    """Forwards events as they arrive; hides the usage chunk unless the client asked for it.

    However it ends (complete, upstream failure, client gone, or closed before it ever started),
    the upstream stream is closed and `on_finish` runs exactly once.
    """

    def __init__(
        self,
        stream: ChatStream,
        first: StreamEvent,
        *,
        include_usage: bool,
        outcome: StreamOutcome,
        on_finish: Callable[[StreamOutcome], None],
    ) -> None:
        self._stream = stream
        self._first = first
        self._include_usage = include_usage
        self._outcome = outcome
        self._on_finish = on_finish
        self._events: AsyncIterator[bytes] | None = None
        self._finished = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._events is None:
            self._events = self._relay()
        return self._events

    async def aclose(self) -> None:
        if self._events is not None:
            await self._events.aclose()
        await self._finish("client_closed")

    async def _relay(self) -> AsyncIterator[bytes]:
        outcome = self._outcome
        status = "client_closed"
        assembler = AnswerAssembler() if outcome.assemble else None
        try:
            event: StreamEvent | None = self._first
            upstream = aiter(self._stream)
            while event is not None:
                usage = event.chunk.get("usage")
                if usage:
                    outcome.usage = Usage.from_openai(usage)
                if assembler is not None:
                    assembler.add(event.chunk)
                if self._include_usage or not (usage and not event.chunk.get("choices")):
                    if outcome.first_byte_at is None:
                        outcome.first_byte_at = time.perf_counter()
                    yield b"data: " + event.data + b"\n\n"
                event = await anext(upstream, None)
            status = "ok"
            yield DONE_EVENT
        except ProviderError as error:
            status, outcome.error = "error", error
            yield b"data: " + orjson.dumps(error_body(error.message, error.error_type, None, error.code)) + b"\n\n"
        finally:
            if assembler is not None:
                outcome.answer = assembler.answer()
            await self._finish(status)

    async def _finish(self, status: str) -> None:
        if self._finished:
            return
        self._finished = True
        self._outcome.status = status
        try:
            await self._stream.aclose()
        finally:
            self._on_finish(self._outcome)


def _client_error(error: ProviderError) -> GatewayError:
    return GatewayError(error.message, status=error.status, error_type=error.error_type, code=error.code,
                        headers=_retry_headers(error))


def _all_failed(errors: list[ProviderError], log: CallLog) -> GatewayError:
    """One error for the client when no candidate answered, with the status that tells it what to do."""
    if errors and all(error.code == UNSUPPORTED_FEATURE for error in errors):
        # Nobody could serve the request as asked: the client has to change it, so 400, not 502.
        return GatewayError(" ".join(dict.fromkeys(error.message for error in errors)), code=UNSUPPORTED_FEATURE)
    if len(errors) == 1 and errors[0].upstream_status == 429:
        return _client_error(errors[0])  # one candidate, rate limited: the client should back off, not see 502
    summary = "; ".join(f"{a.model} via {a.provider}: {a.error}" for a in log.attempts)
    return UpstreamFailed(f"All {len(log.attempts)} upstream attempt(s) failed. {summary}",
                          headers=_retry_headers(errors[-1]) if errors else None)


def _retry_headers(error: ProviderError) -> dict[str, str]:
    return {"retry-after": error.retry_after} if error.retry_after else {}


class AnswerAssembler:
    """Joins choice 0's streamed deltas (text and tool calls) into one bounded `Answer`."""

    def __init__(self, limit_chars: int = 256 * 1024) -> None:
        self._limit = limit_chars
        self._size = 0
        self._text: list[str] = []
        self._tools: dict[int, dict] = {}
        self._truncated = False

    def add(self, chunk: dict) -> None:
        choices = chunk.get("choices")
        if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
            return
        choice = choices[0]
        if choice.get("index", 0) != 0:
            return
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return
        content = delta.get("content")
        if isinstance(content, str) and content:
            self._text.append(self._take(content))
        for call in delta.get("tool_calls") or ():
            if not isinstance(call, dict):
                continue
            slot = self._tools.setdefault(call.get("index", 0), {"id": "", "type": "function",
                                                                "function": {"name": "", "arguments": ""}})
            slot["id"] = call.get("id") or slot["id"]
            function = call.get("function") if isinstance(call.get("function"), dict) else {}
            if function.get("name"):
                slot["function"]["name"] = function["name"]
            arguments = function.get("arguments")
            if isinstance(arguments, str) and arguments:
                slot["function"]["arguments"] += self._take(arguments)

    def _take(self, part: str) -> str:
        """As much of `part` as the size bound still allows."""
        room = self._limit - self._size
        if len(part) > room:
            part, self._truncated = part[:max(room, 0)], True
        self._size += len(part)
        return part

    def answer(self) -> Answer:
        return Answer(text="".join(self._text), tool_calls=[self._tools[index] for index in sorted(self._tools)],
                      truncated=self._truncated)
