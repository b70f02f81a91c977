"""The context features on the request path, as pipeline steps, a body transform and an outcome subscriber.

    enrich   (step "enrich")   one read per request, in the reader pool: how the request relates to its
                               stored conversation, the history to offer, the similar interactions;
    measure  (step "select", after the candidates are known) exact token counts, only when an upper bound
                               does not fit some candidate's window (most requests never load the tokenizer);
    fit_body (body transform)  per candidate: the history and the context block that fit its window, or
                               `CandidateSkipped` when the request itself does not;
    save_exchange (outcome)    the turns and the answer, handed to the batched writer.

`ctx` is the request path's RequestContext (proxy.context), which this package cannot import (it sits
below the request path); what it reads of it: `chat`, `raw`, `caller`, `profile_name`, `candidates`,
`body_transforms`, `extras`, `response_headers`, `request_id`, `created_at`.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from typing import Any

import orjson
from django.conf import settings

from context.blocks import similar_block
from context.budget import (
    Budget,
    History,
    HistoryMessage,
    added_upper_tokens,
    assemble,
    request_upper_tokens,
    room_for_context,
    skip_reason,
)
from context.pending import ConversationKey, Exchange, TokenCounts
from context.policy import Policy
from context.selectors import SimilarAsk, conversation_read, scope_for
from context.services import answer_message
from context.state import pending, policy_snapshot, recorder
from context.text import latest_task, leading_system_count, message_digest
from core import tokens
from core.background import run_read
from core.errors import CandidateSkipped

logger = logging.getLogger(__name__)

EXTRA = "context"  # the key of this feature's state in ctx.extras
HEADER = "x-gateway-context"


@dataclass(slots=True)
class ContextState:
    client_body: dict
    turns: list[dict]  # the client's messages after its system prompt
    budget: Budget
    request_upper: int  # an upper bound of the client's request in tokens
    request_exact: int | None = None
    policy: Policy | None = None
    key: ConversationKey | None = None
    history: History | None = None
    offered: int = 0  # stored messages offered as history (before fitting)
    block: dict | None = None
    block_tokens: int = 0
    similar: int = 0  # interactions in the block
    pin: tuple[int, ...] | None = None


OUTPUT_FIELDS = ("max_completion_tokens", "max_tokens")
OUTPUT_HEADER = "x-gateway-output-limit"


def _output_tokens(body: dict) -> int:
    for name in OUTPUT_FIELDS:
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return settings.CONTEXT_DEFAULT_OUTPUT_TOKENS


async def enrich(ctx: Any) -> None:
    chat = ctx.chat
    body = chat.body
    messages = body["messages"]
    system_count = leading_system_count(messages)
    state = ContextState(
        client_body=body,
        turns=messages[system_count:],
        budget=Budget(_output_tokens(body), settings.CONTEXT_BUDGET_MARGIN, settings.CONTEXT_UNKNOWN_WINDOW_TOKENS),
        request_upper=request_upper_tokens(len(ctx.raw), body, "vision" in chat.needs),
    )
    ctx.extras[EXTRA] = state
    ctx.body_transforms.append(fit_body)  # the window check applies to every request
    if not chat.conversation_id:
        return
    state.policy = policy = (await policy_snapshot.get()).for_profile(ctx.profile_name)
    state.key = key = ConversationKey(ctx.caller.prefix, ctx.profile_name, chat.conversation_id)
    if not (policy.history or policy.similar):
        return  # storing alone needs no read: the writer relates the request to what is stored
    turns = state.turns
    digests: dict[int, str] = {}

    def digest_at(index: int) -> str:
        if index not in digests:
            digests[index] = message_digest(turns[index])
        return digests[index]

    similar = None
    if policy.similar:
        similar = SimilarAsk(latest_task(turns), scope_for(policy, key), policy.similar_top_k,
                             policy.similar_min_score, settings.CONTEXT_SIMILAR_MAX_MATCHES)
    committed = pending.committed  # before the read: what it marks written, the read sees
    read = await run_read(
        conversation_read, key=key, turns=len(turns), digest_at=digest_at, pending=pending.of(key),
        committed=committed, want_history=policy.history, history_limit=settings.CONTEXT_HISTORY_MAX_MESSAGES,
        similar=similar,
    )
    if read.history:
        opens_with_result = read.plan.overlap == 0 and bool(turns) and turns[0].get("role") == "tool"
        state.history = History(read.history, required_last_turn=opens_with_result)
        state.offered = len(state.history.messages)
        if not state.history.messages:
            state.history = None
    state.block, state.similar = similar_block(read.hits), len(read.hits)
    if state.block is not None:
        state.block_tokens = len(orjson.dumps(state.block)) + tokens.TOKENS_PER_MESSAGE
    state.pin = read.pin


def _body_before_fit(ctx: Any, candidate: Any) -> dict:
    """The candidate's body as the transforms before `fit_body` make it."""
    body = ctx.chat.body
    for transform in ctx.body_transforms:
        if transform is fit_body:
            break
        body = transform(ctx, candidate, body)
    return body


def _close_to_window(ctx: Any, state: ContextState, candidate: Any) -> bool:
    """Whether the upper bounds might not fit this candidate: then the counts must be exact."""
    window = candidate.model.context_window or state.budget.unknown_window
    try:
        added = added_upper_tokens(_body_before_fit(ctx, candidate), state.client_body)
    except CandidateSkipped:
        return False  # an earlier transform passes it over anyway
    history = state.history.upper if state.history else 0
    return room_for_context(window, state.budget, state.request_upper + added) < history + state.block_tokens


async def measure(ctx: Any) -> None:
    """Count exactly what the candidates' windows need counted; nothing when every upper bound fits."""
    state = ctx.extras.get(EXTRA)
    if state is None or not any(_close_to_window(ctx, state, candidate) for candidate in ctx.candidates):
        return
    body = state.client_body
    state.request_exact = (await tokens.measure_message_tokens_async(body["messages"], tools=body.get("tools"))).tokens
    history = state.history
    missing = [message for message in history.messages if message.tokens is None] if history else []
    if missing:
        await asyncio.to_thread(_count_each, missing)
        history.refresh()
        counted = [(message.message_id, message.tokens) for message in missing if message.message_id]
        if counted and state.policy is not None and state.policy.store:
            recorder.record(TokenCounts(counted))  # the next request of the conversation reads them


def _count_each(messages: list[HistoryMessage]) -> None:
    for message in messages:
        message.tokens = tokens.count_message_tokens([message.as_dict()]) - tokens.REPLY_PRIMING


def fit_body(ctx: Any, candidate: Any, body: dict) -> dict:
    """The body for one candidate: history and context block within its window (a body transform).

    Raises CandidateSkipped when the candidate's window cannot hold the request and its output.
    """
    state: ContextState | None = ctx.extras.get(EXTRA)
    if state is None:
        return body
    window = candidate.model.context_window
    budget = state.budget
    request = state.request_exact if state.request_exact is not None else state.request_upper
    request += added_upper_tokens(body, state.client_body)
    history = state.history
    required = history.required_tokens() if history else 0
    needed = request + required + budget.output_tokens
    if window and needed > window:
        output = _output_that_fits(ctx, state, window, request + required, needed)
        if output is None:
            raise skip_reason(candidate.model.public_id, window, needed, budget.output_tokens)
        body = _with_output_limit(body, output)
        ctx.response_headers[OUTPUT_HEADER] = (f"max_tokens lowered to {output} to fit "
                                               f"{candidate.model.public_id}'s {window}-token window")
        if not required:
            return body
        return assemble(body, block=None, history=history.messages[history.last_turn_start:],
                        system_count=leading_system_count(body["messages"]))
    if history is None and state.block is None:
        return body
    room = room_for_context(window or budget.unknown_window, budget, request)
    block = None
    if state.block is not None and state.block_tokens <= room - required:
        block, room = state.block, room - state.block_tokens
    chosen: list[HistoryMessage] = []
    if history is not None:
        start = history.start_for(room)
        if required:
            start = min(start, history.last_turn_start)
        chosen = history.messages[start:]
    similar = 0 if block is None else state.similar
    ctx.response_headers[HEADER] = f"history={len(chosen)}/{state.offered}; similar={similar}"
    if block is None and not chosen:
        return body
    return assemble(body, block=block, history=chosen, system_count=leading_system_count(body["messages"]))


def _output_that_fits(ctx: Any, state: ContextState, window: int, prompt: int, needed: int) -> int | None:
    """The output limit to send when the client's own does not fit this window, or None to skip the candidate.

    Agents ask for the most their usual model can write (Claude Code: `max_tokens` 128000), which no
    128k-window model can hold beside any prompt. A candidate that can hold it all is preferred (the others
    are skipped); when none can, the limit is lowered to what the window leaves, if that is at least
    CONTEXT_MIN_OUTPUT_TOKENS, rather than refusing a request every provider would serve."""
    if not any(_output_field(state.client_body)):
        return None  # no limit asked for: the default output room is the gateway's own guess
    if any(not c.model.context_window or c.model.context_window >= needed for c in ctx.candidates):
        return None
    room = window - prompt - math.ceil(window * state.budget.margin)
    return room if room >= settings.CONTEXT_MIN_OUTPUT_TOKENS else None


def _output_field(body: dict) -> tuple[str, ...]:
    return tuple(name for name in OUTPUT_FIELDS if isinstance(body.get(name), int))


def _with_output_limit(body: dict, output: int) -> dict:
    return {**body, **{name: output for name in _output_field(body)}}


def save_exchange(outcome: Any) -> None:
    """Hand a completed exchange to the batched writer (an outcome subscriber; never blocks)."""
    ctx = outcome.ctx
    state: ContextState | None = ctx.extras.get(EXTRA)
    if state is None or state.key is None or state.policy is None or not state.policy.store or not state.turns:
        return
    answer = outcome.answer
    if outcome.status != "ok" or outcome.status_code != 200 or answer is None:
        return
    exchange = Exchange(state.key, ctx.request_id, ctx.created_at, state.turns,
                        answer_message(answer.text, answer.tool_calls), similar_ids=state.pin)
    pending.add(exchange)
    recorder.record(exchange)
