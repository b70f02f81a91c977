"""MCP servers as a context source on the request path: the `enrich` step and its body transform.

    enrich     ask every enabled server registered for the request's profile, concurrently, each within its
               own timeout (default 300 ms): the added latency is the slowest server's answer or its timeout,
               never more. What fails or is late is counted (/status) and left out; the request goes on.
    add_block  (body transform) per candidate: the answers as one delimited system message after the client's
               system content, before the context app's window fit (`context.steps.fit_body`), which then
               counts it like any other added content.

With no server registered the step costs one read of an in-memory snapshot. `ctx` is the request path's
RequestContext (proxy.context), which this package cannot import (it sits below the request path).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from context.steps import fit_body
from context.text import latest_task, leading_system_count
from mcp_bridge.blocks import mcp_block, with_block
from mcp_bridge.state import servers_snapshot, sessions
from mcp_bridge.template import render, uses

EXTRA = "mcp"  # this feature's state in ctx.extras
HEADER = "x-gateway-mcp"


@dataclass(slots=True)
class McpState:
    block: dict
    answered: int
    asked: int


async def enrich(ctx: Any) -> None:
    snapshot = await servers_snapshot.get()
    sessions.reconcile(snapshot)  # sessions of servers no longer registered are closed
    if not snapshot.servers:
        return
    servers = snapshot.for_profile(ctx.profile_name)
    if not servers:
        return
    chat = ctx.chat
    messages = chat.body["messages"]
    task = latest_task(messages[leading_system_count(messages):])
    values = {"task": task, "conversation_id": chat.conversation_id or "", "role": ctx.role,
              "profile": ctx.profile_name, "model": chat.model}
    asked = [server for server in servers if task or not uses(server.template, "task")]
    if not asked:
        return  # nothing to ask about (e.g. a turn without words of the user's own)
    answers: list[str | None] = []
    calls = []  # (index, server, arguments) of the answers not in the cache
    for index, server in enumerate(asked):
        arguments = render(server.template, values)
        answers.append(sessions.cached(server, arguments))
        if answers[-1] is None:
            calls.append((index, server, arguments))
    if len(calls) == 1:  # the common case: no task to create
        index, server, arguments = calls[0]
        answers[index] = await sessions.call(server, arguments)
    elif calls:
        results = await asyncio.gather(*(sessions.call(server, arguments) for _, server, arguments in calls))
        for (index, _, _), text in zip(calls, results, strict=True):
            answers[index] = text
    answered = [(server, text) for server, text in zip(asked, answers, strict=True) if text]
    ctx.response_headers[HEADER] = f"answered={len(answered)}/{len(asked)}"
    block = mcp_block(answered, max_chars=settings.MCP_RESULT_MAX_CHARS)
    if block is None:
        return
    ctx.extras[EXTRA] = McpState(block, len(answered), len(asked))
    transforms = ctx.body_transforms
    # Before the window fit, so it counts the block; after the rewrite step's transforms (the strategy).
    position = transforms.index(fit_body) if fit_body in transforms else len(transforms)
    transforms.insert(position, add_block)


def add_block(ctx: Any, candidate: Any, body: dict) -> dict:
    """The body with the MCP answers' block after the client's system messages (a body transform)."""
    state: McpState | None = ctx.extras.get(EXTRA)
    if state is None:
        return body
    return with_block(body, state.block, leading_system_count(body["messages"]))
