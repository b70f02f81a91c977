"""The gateway's own token counts (core.tokens, offline): a request's size before the call, for quotas, and
the usage of an answer whose upstream reported none (the row is then marked `tokens_estimated`)."""

from __future__ import annotations

from django.conf import settings

from core.tokens import count_message_tokens_async, count_tokens_async
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
    text = ""
    if answer is not None:
        text = answer.text + "".join(call.get("function", {}).get("name", "") + call.get("function", {}).get(
            "arguments", "") for call in answer.tool_calls if isinstance(call, dict)
            and isinstance(call.get("function"), dict))
    completion = await count_tokens_async(text) if text else 0
    return Usage(prompt, completion, prompt + completion, estimated=True)
