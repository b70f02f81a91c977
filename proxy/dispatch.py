"""Calling the candidates in order until one answers, and relaying a stream to the client.

Retries and fallback happen only before the first byte reaches the client: a non-streamed answer is
whole or nothing, and a stream is committed once its first event has been read. After that an upstream
failure ends the stream with an OpenAI-shaped error event, never a silent truncation.

Each candidate may first be refused by a gate (the free tier's quota), then is tried and, on a transient
failure, tried again (proxy.retry) before the next one. Every try and every skip goes in the call log;
the circuit breaker hears once per request and candidate. An overall deadline bounds the time to the
answer's first byte: past it the try in flight is cancelled and the client gets a 504.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import orjson

from core.errors import CandidateSkipped, GatewayError, UpstreamFailed, error_body
from providers import ProviderError, provider_for
from providers.base import ChatStream, Completion, NativeRequest, Provider, StreamEvent, Usage
from providers.specs import ModelSpec
from proxy.circuit import CircuitBreaker
from proxy.retry import RetryPolicy
from routing.selection import Candidate

# The client's own-protocol request for one candidate (None: send it the chat-shaped body instead).
NativeFor = Callable[[Candidate], "NativeRequest | None"]
# The body for one candidate: the request context's `body_for` (history and strategy may depend on the model).
BodyFor = Callable[[Candidate], dict]
# How a whole answer is asked of a provider: a chat completion by default, embeddings for /v1/embeddings.
Send = Callable[[Provider, dict, ModelSpec], Awaitable[Completion]]

DONE_EVENT = b"data: [DONE]\n\n"
UNSUPPORTED_FEATURE = "unsupported_feature"  # ProviderError.code: this provider cannot serve the request as asked
T = TypeVar("T")


@dataclass(slots=True)
class Attempt:
    """One try of one candidate, or (`skipped` set) a candidate passed over without a try."""

    provider: str
    model: str
    ms: float
    status: int | None = None  # what the upstream answered; None when it never did
    error: str = ""
    try_number: int = 1  # 2, 3, ...: a retry of the same candidate
    waited_ms: float = 0.0  # the backoff before this try
    skipped: str = ""  # why the candidate was not tried: circuit_open | quota_exhausted | ...
    code: str = ""  # the failure's code (upstream_timeout, upstream_rate_limited, ...)

    def as_dict(self) -> dict:
        entry = {"provider": self.provider, "model": self.model, "status": self.status, "error": self.error,
                 "ms": round(self.ms, 2), "try": self.try_number}
        if self.code:
            entry["code"] = self.code
        if self.waited_ms:
            entry["waited_ms"] = round(self.waited_ms, 1)
        if self.skipped:
            entry["skipped"] = self.skipped
        return entry


@dataclass(slots=True)
class CallLog:
    """What happened upstream, for headers and the usage row."""

    attempts: list[Attempt] = field(default_factory=list)  # tries and skips, in order
    upstream_ms: float = 0.0  # time spent waiting on providers, excluded from the gateway's overhead
    chosen: Candidate | None = None

    @property
    def tries(self) -> int:
        """Requests actually sent upstream (retries included, skipped candidates not)."""
        return sum(1 for attempt in self.attempts if not attempt.skipped)

    def failed(self, candidate: Candidate, started: float, error: ProviderError, try_number: int = 1,
               waited: float = 0.0) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        self.upstream_ms += elapsed
        self.attempts.append(
            Attempt(candidate.provider.name, candidate.model.public_id, elapsed, error.upstream_status,
                    error.message, try_number, waited * 1000, code=error.code or "")
        )

    def succeeded(self, candidate: Candidate, started: float, try_number: int = 1, waited: float = 0.0) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        self.upstream_ms += elapsed
        self.attempts.append(Attempt(candidate.provider.name, candidate.model.public_id, elapsed, 200,
                                     try_number=try_number, waited_ms=waited * 1000))
        self.chosen = candidate

    def skipped(self, candidate: Candidate, reason: str, detail: str = "") -> None:
        self.attempts.append(Attempt(candidate.provider.name, candidate.model.public_id, 0.0, error=detail,
                                     try_number=0, skipped=reason))

    def waited(self, seconds: float) -> None:
        """A backoff pause counts as upstream time: the gateway itself was idle."""
        self.upstream_ms += seconds * 1000


class CandidateGate(Protocol):
    """A per-request check before a candidate is tried (e.g. the free tier's monthly quota)."""

    async def admit(self, candidate: Candidate) -> str | None:
        """None: go ahead (whatever was reserved stays reserved); else why the candidate is skipped."""

    def release(self, candidate: Candidate) -> None:
        """The candidate did not answer: give back what `admit` took for it."""


DEADLINE_EXCEEDED = "deadline_exceeded"
QUOTA_EXHAUSTED = "quota_exhausted"  # a gate's skip reason: the provider's monthly quota cannot cover the request
NO_RETRIES = RetryPolicy()


def _by_circuit(candidates: list[Candidate], breaker: CircuitBreaker | None, log: CallLog) -> Iterator[Candidate]:
    """Candidates whose circuit lets them through, in order; then, as a last resort, the ones it held back."""
    held_back = []
    for candidate in candidates:
        if breaker is None or breaker.allow(candidate.provider.name):
            yield candidate
        else:
            log.skipped(candidate, "circuit_open", f"provider '{candidate.provider.name}' failed repeatedly")
            held_back.append(candidate)
    yield from held_back


def _note(breaker: CircuitBreaker | None, candidate: Candidate, error: ProviderError | None) -> None:
    """Once per request and candidate, whatever the number of tries: retries must not open circuits."""
    if breaker is None:
        return
    if error is not None and error.retryable and error.code not in (UNSUPPORTED_FEATURE, DEADLINE_EXCEEDED):
        breaker.record_failure(candidate.provider.name)
    else:
        breaker.record_success(candidate.provider.name)  # it answered, even if to refuse


def send_chat(provider: Provider, body: dict, model: ModelSpec) -> Awaitable[Completion]:
    return provider.complete(body, model)


Try = Callable[[Candidate], Awaitable[T]]


async def _dispatch(candidates: list[Candidate], attempt: Try[T], log: CallLog, breaker: CircuitBreaker | None,
                    policy: RetryPolicy, deadline: float | None, gate: CandidateGate | None) -> T:
    """Each candidate in turn, each retried as `policy` allows, until one answers.

    Raises GatewayError: the upstream's own refusal (not retryable), 504 when the deadline passed before
    an answer, else 502 (or the single candidate's 429) when every candidate failed."""
    errors: list[ProviderError] = []
    skips: list[CandidateSkipped] = []
    for candidate in _by_circuit(candidates, breaker, log):
        if gate is not None:
            skip = await gate.admit(candidate)
            if skip is not None:
                log.skipped(candidate, skip)
                continue
        try_number, waited = 1, 0.0
        while True:
            started = time.perf_counter()
            try:
                result = await _within(deadline, attempt(candidate))
            except ProviderError as error:
                log.failed(candidate, started, error, try_number, waited)
                waited = policy.wait_before_retry(error, try_number - 1, deadline)
                if waited is not None:
                    log.waited(waited)
                    await asyncio.sleep(waited)
                    try_number += 1
                    continue
                _note(breaker, candidate, error)
                if gate is not None:
                    gate.release(candidate)
                if error.code == DEADLINE_EXCEEDED or not error.retryable:
                    raise _client_error(error) from None
                errors.append(error)
                break
            except CandidateSkipped as skip:  # its body cannot be built for it (e.g. the window is too small)
                log.skipped(candidate, skip.reason, skip.message)
                skips.append(skip)
                if gate is not None:
                    gate.release(candidate)
                break
            except BaseException:
                if gate is not None:
                    gate.release(candidate)
                raise
            log.succeeded(candidate, started, try_number, waited)
            _note(breaker, candidate, None)
            return result
        if deadline is not None and time.perf_counter() >= deadline:
            raise _client_error(_deadline_error()) from None
    raise _all_failed(errors, log, skips)


async def _within(deadline: float | None, awaitable: Awaitable[T]) -> T:
    """The awaitable, cancelled when the request's deadline passes (a ProviderError then)."""
    if deadline is None:
        return await awaitable
    remaining = deadline - time.perf_counter()
    try:
        if remaining <= 0:
            raise TimeoutError
        async with asyncio.timeout(remaining):
            return await awaitable
    except TimeoutError:
        if inspect.iscoroutine(awaitable):
            awaitable.close()
        raise _deadline_error() from None


def _deadline_error() -> ProviderError:
    return ProviderError("The request's deadline passed before any upstream answered "
                         "(GATEWAY_REQUEST_DEADLINE_SECONDS).", retryable=False, status=504,
                         error_type="timeout_error", code=DEADLINE_EXCEEDED)


async def complete_with_fallback(
    candidates: list[Candidate], body_for: BodyFor, log: CallLog, breaker: CircuitBreaker | None = None, *,
    policy: RetryPolicy = NO_RETRIES, deadline: float | None = None, gate: CandidateGate | None = None,
    native_for: NativeFor | None = None, send: Send | None = None,
) -> Completion:
    """Raises GatewayError: the upstream's own refusal (not retryable) or 502 when all candidates failed.
    `native_for`: the client's request in its own protocol for a candidate, sent as it is if it speaks it."""

    async def attempt(candidate: Candidate) -> Completion:
        provider = provider_for(candidate.provider)
        native = native_for(candidate) if native_for is not None else None
        if provider.speaks(native):
            return await provider.complete_native(native, candidate.model)
        if (refusal := provider.refusal_of(native)) is not None:
            raise refusal
        return await (send or send_chat)(provider, body_for(candidate), candidate.model)

    return await _dispatch(candidates, attempt, log, breaker, policy, deadline, gate)


async def open_stream_with_fallback(
    candidates: list[Candidate], body_for: BodyFor, log: CallLog, breaker: CircuitBreaker | None = None, *,
    policy: RetryPolicy = NO_RETRIES, deadline: float | None = None, gate: CandidateGate | None = None,
    native_for: NativeFor | None = None,
) -> tuple[ChatStream, StreamEvent]:
    """Opens the first candidate that accepts and sends a first event; returns both, uncommitted.

    Nothing has reached the client yet, so a failure here may still be retried or fall back."""

    async def attempt(candidate: Candidate) -> tuple[ChatStream, StreamEvent]:
        stream: ChatStream | None = None
        try:
            provider = provider_for(candidate.provider)
            native = native_for(candidate) if native_for is not None else None
            if provider.speaks(native):
                stream = await provider.stream_native(native, candidate.model)
            elif (refusal := provider.refusal_of(native)) is not None:
                raise refusal
            else:
                stream = await provider.stream(body_for(candidate), candidate.model)
            return stream, await anext(stream)
        except StopAsyncIteration:
            await stream.aclose()
            raise ProviderError(
                f"Provider '{candidate.provider.name}' ended the stream without an answer.", retryable=True,
                code="upstream_empty_stream",
            ) from None
        except BaseException:  # a failure, the deadline or the client gone: the connection goes back
            if stream is not None:
                await stream.aclose()
            raise

    return await _dispatch(candidates, attempt, log, breaker, policy, deadline, gate)


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

    A native stream (the provider's own protocol, see providers.base.NativeRequest) is forwarded frame
    by frame as it is: its own last frame ends it (no `[DONE]`), and a failure is told in its protocol.

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
        native = self._stream.native
        try:
            event: StreamEvent | None = self._first
            upstream = aiter(self._stream)
            while native and event is not None:
                if event.usage is not None:
                    outcome.usage = event.usage
                if assembler is not None:
                    for chunk in event.translated:
                        assembler.add(chunk)
                if outcome.first_byte_at is None:
                    outcome.first_byte_at = time.perf_counter()
                yield event.data
                event = await anext(upstream, None)
            while event is not None:
                usage = event.chunk.get("usage")
                if usage:
                    outcome.usage = event.usage or Usage.from_openai(usage)
                if assembler is not None:
                    assembler.add(event.chunk)
                if self._include_usage or not (usage and not event.chunk.get("choices")):
                    if outcome.first_byte_at is None:
                        outcome.first_byte_at = time.perf_counter()
                    yield b"data: " + event.data + b"\n\n"
                event = await anext(upstream, None)
            status = "ok"
            if not native:
                yield DONE_EVENT
        except ProviderError as error:
            status, outcome.error = "error", error
            if native:
                yield self._stream.error_frame(error)
            else:
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


def _all_failed(errors: list[ProviderError], log: CallLog, skips: Sequence[CandidateSkipped] = ()) -> GatewayError:
    """One error for the client when no candidate answered, with the status that tells it what to do."""
    if not errors and {a.skipped for a in log.attempts} == {QUOTA_EXHAUSTED}:
        names = ", ".join(dict.fromkeys(a.provider for a in log.attempts))
        return GatewayError(
            f"This month's token quota of {names} cannot cover this request, and no other model may serve it. "
            "Lower max_tokens, or use a model or profile with a paid tier.",
            status=429, error_type="insufficient_quota", code=QUOTA_EXHAUSTED, headers={"x-should-retry": "false"},
        )
    if skips and not errors:  # none was even tried: the client has to change the request
        return GatewayError(" ".join(dict.fromkeys(skip.message for skip in skips)), status=skips[0].status,
                            code=skips[0].code)
    if errors and all(error.code == UNSUPPORTED_FEATURE for error in errors):
        # Nobody could serve the request as asked: the client has to change it, so 400, not 502.
        return GatewayError(" ".join(dict.fromkeys(error.message for error in errors)), code=UNSUPPORTED_FEATURE)
    if len(errors) == 1 and errors[0].upstream_status == 429:
        return _client_error(errors[0])  # one candidate, rate limited: the client should back off, not see 502
    summary = "; ".join(f"{a.model} via {a.provider}: {a.error}" for a in log.attempts if not a.skipped)
    return UpstreamFailed(f"All {log.tries} upstream attempt(s) failed. {summary}",
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
        if self._truncated:
            return  # at the size bound: the rest of the answer is not kept
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
