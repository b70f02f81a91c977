"""The one object a request carries through the pipeline's steps, and the outcome event after it.

Steps read and write the context, nothing global. What depends on the candidate (its context window,
its wire format) is asked per candidate at dispatch: `body_for(candidate)` applies the body transforms
that the rewrite and enrich steps registered on the context, in order, on top of the client's body.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from django.utils import timezone

from apikeys.access import ANONYMOUS, Access
from apikeys.limits import Grant
from providers.base import NativeRequest, Usage
from proxy.chat_request import ChatRequest
from proxy.dispatch import Answer, CallLog
from routing.selection import Candidate
from routing.snapshot import ProfileSpec, RoutingSnapshot

# (context, candidate, body so far) -> the body to send that candidate. Must not mutate its input.
BodyTransform = Callable[["RequestContext", Candidate, dict], dict]


@dataclass(slots=True)
class RequestContext:
    raw: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    client_host: str | None = None
    request_id: str = field(default_factory=lambda: f"gw-{uuid.uuid4().hex}")
    started: float = field(default_factory=time.perf_counter)
    created_at: object = field(default_factory=timezone.now)
    access: Access | None = None  # None until the authenticate step (or the front) has identified the caller
    # The client's request in its own protocol, for a candidate that speaks it (Anthropic in → Anthropic out).
    native: NativeRequest | None = None
    snapshot: RoutingSnapshot | None = None
    chat: ChatRequest | None = None
    role: str = ""
    role_source: str = ""  # the tier that decided the role: explicit | agent_mode | fast_path | classifier | default
    role_confidence: float | None = None  # how sure that tier was (0..1); None when no detection ran
    profile: ProfileSpec | None = None
    candidates: list[Candidate] = field(default_factory=list)
    grant: Grant | None = None
    log: CallLog = field(default_factory=CallLog)
    body_transforms: list[BodyTransform] = field(default_factory=list)
    # Response headers a step wants the client to see (e.g. the detected role's confidence).
    response_headers: dict[str, str] = field(default_factory=dict)
    # Scratch space of later features, one key per feature (e.g. "history"): steps and subscribers share it.
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def caller(self) -> Access:
        return self.access or ANONYMOUS

    @property
    def profile_name(self) -> str:
        return self.profile.name if self.profile is not None else ""

    def body_for(self, candidate: Candidate) -> dict:
        """The body to send this candidate: the client's, as transformed by the rewrite/enrich steps.

        A candidate that speaks the request's `native` protocol is sent that instead (dispatch decides):
        chat-shaped transforms do not reach it, and a transform that must should also edit `native.body`."""
        assert self.chat is not None
        body = self.chat.body
        for transform in self.body_transforms:
            body = transform(self, candidate, body)
        return body

    def native_for(self, candidate: Candidate) -> NativeRequest | None:
        """The client's own-protocol request for this candidate, carrying what the rewrite/enrich steps added.

        Those steps work on the chat-shaped body; what they add there as system messages (a strategy, a
        context block) is carried over as `added_system`. Anything else they change (history turns put in
        front) has no native form here: None, and the candidate gets the chat-shaped translation instead.
        May raise CandidateSkipped, as `body_for` does."""
        if self.native is None or not self.body_transforms:
            return self.native
        original = self.chat.body
        transformed = self.body_for(candidate)
        if transformed is original:
            return self.native
        lowered = _changed_output_limit(original, transformed)
        if {k: v for k, v in transformed.items() if k not in NATIVE_CARRIED} != {
                k: v for k, v in original.items() if k not in NATIVE_CARRIED}:
            return None
        kept = {id(message) for message in original.get("messages", ())}
        added = [message for message in transformed.get("messages", ()) if id(message) not in kept]
        if len(transformed.get("messages", ())) - len(added) != len(original.get("messages", ())):
            return None  # a client message was replaced or dropped: only the translation says it right
        before: list[str] = []
        after: list[str] = []
        seen_client_message = False
        for message in transformed.get("messages", ()):
            if id(message) in kept:
                seen_client_message = True
                continue
            if message.get("role") != "system" or not isinstance(message.get("content"), str):
                return None
            (after if seen_client_message else before).append(message["content"])
        return replace(self.native, prepended_system=tuple(before), added_system=tuple(after), max_tokens=lowered)

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def overhead_ms(self) -> float:
        """Time spent in the gateway itself: elapsed minus the time waiting on upstreams. Never negative
        (the clock reads of the two differ by a few microseconds)."""
        return max(self.elapsed_ms() - self.log.upstream_ms, 0.0)


# What a native request can carry of the steps' changes besides added system text: a lowered output limit.
NATIVE_CARRIED = ("messages", "max_tokens", "max_completion_tokens")


def _changed_output_limit(original: dict, transformed: dict) -> int | None:
    for name in ("max_tokens", "max_completion_tokens"):
        if transformed.get(name) != original.get(name) and isinstance(transformed.get(name), int):
            return transformed[name]
    return None


@dataclass(slots=True)
class Outcome:
    """What happened to one request, published once to every subscriber after the response."""

    ctx: RequestContext
    status_code: int
    usage: Usage
    cost: float
    status: str  # ok | error | client_closed
    latency_ms: float
    overhead_ms: float
    upstream_model: str = ""
    ttft_ms: float | None = None
    error: Exception | None = None
    answer: Answer | None = None  # set only when a subscriber asked for answers (outcomes.wants_answers)
