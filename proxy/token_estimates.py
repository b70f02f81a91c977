"""The gateway's own token counts (core.tokens, offline): a request's size before the call, for quotas, and
the usage of an answer whose upstream reported none (the row is then marked `tokens_estimated`).

`estimated_usage` may hand a big count to a thread; `estimated_usage_now` never waits, for the end of a
stream, where the row must be published at once (a process shutting down cancels whatever awaits): it
counts up to INLINE_CHARS exactly and scales a sample above that, and until the tokenizer is loaded it
falls back to four characters per token. The tokenizer costs about 90 MB of memory, so it is loaded (in
the background) only for a complete answer without usage — an upstream that never reports usage — not
for a stream cut short by a failure, which an upstream that does report would have counted.
"""

from __future__ import annotations

import threading

from django.conf import settings

from core import tokens
from core.tokens import INLINE_CHARS, count_message_tokens, count_message_tokens_async, count_tokens_async
from providers.base import Usage
from proxy.context import RequestContext
from proxy.dispatch import Answer

PROMPT_TOKENS = "prompt_tokens"  # ctx.extras key: the prompt's count, made once per request


async def prompt_tokens(ctx: RequestContext) -> int:
    counted = ctx.extras.get(PROMPT_TOKENS)
    if counted is None:
        body = ctx.chat.body
        tools = body.get("tools")
        counted = await count_message_tokens_async(body.get("messages") or [],
                                                   tools=tools if isinstance(tools, list) else None)
        ctx.extras[PROMPT_TOKENS] = counted
    return counted


def completion_cap(body: dict) -> int:
    """The most the answer may use: the client's max_completion_tokens / max_tokens, else the configured
    default (GATEWAY_QUOTA_DEFAULT_COMPLETION_TOKENS)."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return settings.GATEWAY_QUOTA_DEFAULT_COMPLETION_TOKENS


async def request_tokens(ctx: RequestContext) -> int:
    """Before the call: the most this request should use (prompt counted, plus the completion cap)."""
    return await prompt_tokens(ctx) + completion_cap(ctx.chat.body)


async def estimated_usage(ctx: RequestContext, answer: Answer | None) -> Usage:
    """After an answer that came without usage: the prompt and the answer (text and tool calls) counted."""
    prompt = await prompt_tokens(ctx) if ctx.chat is not None else 0
    text = answer_text(answer)
    completion = await count_tokens_async(text) if text else 0
    return Usage(prompt, completion, prompt + completion, estimated=True)


def estimated_usage_now(ctx: RequestContext, answer: Answer | None, *, load: bool = True) -> Usage:
    """`estimated_usage` without waiting (bounded work on the event loop; see the module docstring).
    `load`: start loading the tokenizer if it is not loaded yet."""
    prompt = ctx.extras.get(PROMPT_TOKENS)
    if prompt is None and ctx.chat is not None:
        if tokens.is_loaded() and len(ctx.raw) <= INLINE_CHARS:
            tools = ctx.chat.body.get("tools")
            prompt = count_message_tokens(ctx.chat.body.get("messages") or [],
                                          tools=tools if isinstance(tools, list) else None)
        else:
            prompt = _bounded_count(ctx.raw.decode("utf-8", "replace"), load)
    completion = _bounded_count(answer_text(answer), load)
    return Usage(prompt or 0, completion, (prompt or 0) + completion, estimated=True)


def answer_text(answer: Answer | None) -> str:
    if answer is None:
        return ""
    calls = "".join(str(call["function"].get("name") or "") + str(call["function"].get("arguments") or "")
                    for call in answer.tool_calls if isinstance(call, dict) and isinstance(call.get("function"), dict))
    return answer.text + calls


def _bounded_count(text: str, load: bool) -> int:
    if not text:
        return 0
    if not tokens.is_loaded():
        if load:
            _load_in_background()
        return -(-len(text) // 4)
    if len(text) <= INLINE_CHARS:
        return tokens.count_tokens(text)
    return round(tokens.count_tokens(text[:INLINE_CHARS]) * len(text) / INLINE_CHARS)


_loading = threading.Lock()


def _load_in_background() -> None:
    """Load the tokenizer's ranks (~0.5 s) in a thread of its own, once: the next count is exact."""
    if _loading.acquire(blocking=False):
        threading.Thread(target=tokens.get_encoding, name="tokenizer-load", daemon=True).start()
