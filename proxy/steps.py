"""The pipeline's built-in steps, one function each over the request context (proxy.pipeline runs them)."""

from __future__ import annotations

import orjson
from django.conf import settings

from apikeys.access import authorize as authorize_access
from apikeys.access import permitted
from apikeys.gate import admit as admit_request
from apikeys.gate import authenticate_request
from proxy.chat_request import parse_chat_request
from proxy.context import RequestContext
from proxy.dispatch import Answer
from routing.selection import is_alias, is_auto, resolve_profile, select_candidates
from routing.state import routing_snapshot

ANSWER_LIMIT_CHARS = 256 * 1024  # an assembled answer handed to subscribers is cut beyond this


async def authenticate(ctx: RequestContext) -> None:
    """Who is calling (401 otherwise); skipped when the front has authenticated the caller already."""
    if ctx.access is None:
        ctx.access = await authenticate_request(ctx.headers, ctx.client_host)


async def parse(ctx: RequestContext) -> None:
    ctx.snapshot = snapshot = await routing_snapshot.get()
    ctx.chat = parse_chat_request(
        ctx.raw, ctx.headers, max_messages=settings.GATEWAY_MAX_MESSAGES, known_roles=snapshot.roles
    )


def authorize(ctx: RequestContext) -> None:
    """May this caller use this profile, role and model (403 otherwise); fixes the profile."""
    chat = ctx.chat
    # An alias is checked like `auto`: the key's model list applies to what it resolves to (`permitted`).
    routed = is_auto(chat.model) or is_alias(ctx.snapshot, chat.model)
    name = authorize_access(ctx.caller, profile=chat.profile, role=ctx.role, model=chat.model, auto=routed)
    ctx.profile = resolve_profile(ctx.snapshot, name)


def select(ctx: RequestContext) -> None:
    chat = ctx.chat
    candidates = select_candidates(ctx.snapshot, model=chat.model, role=ctx.role, profile=ctx.profile,
                                   needs=chat.needs)
    ctx.candidates = permitted(ctx.caller, candidates)
    if len(ctx.candidates) < len(candidates):
        for candidate in candidates:
            if candidate not in ctx.candidates:
                ctx.log.skipped(candidate, "not_permitted")
    via = ctx.candidates[0].via if ctx.candidates else ""
    role = via.partition(":")[2] if is_auto(via) else ""
    if role and role != ctx.role:  # an alias of `auto:<role>`: served, checked and counted as that role
        authorize_access(ctx.caller, profile=chat.profile, role=role, model=chat.model, auto=True)
        ctx.role, ctx.role_source, ctx.role_confidence = role, "alias", None


async def admit(ctx: RequestContext) -> None:
    """Count the request against the key's limits and budget (429 when over)."""
    body = ctx.chat.body
    ctx.grant = await admit_request(ctx.caller, len(ctx.raw), body.get("max_tokens", body.get("max_completion_tokens")))


def answer_from_body(body: bytes) -> Answer:
    """The assembled answer of a non-streamed completion (choice 0), bounded like a streamed one.
    An Anthropic `message` (a native answer) gives its text blocks and tool uses the same way."""
    try:
        data = orjson.loads(body)
        message = data["choices"][0]["message"] if "choices" in data else _from_anthropic_message(data)
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return Answer()
    text = message.get("content") if isinstance(message, dict) else None
    text = text if isinstance(text, str) else ""
    tool_calls = message.get("tool_calls") if isinstance(message, dict) else None
    return Answer(text=text[:ANSWER_LIMIT_CHARS], tool_calls=tool_calls if isinstance(tool_calls, list) else [],
                  truncated=len(text) > ANSWER_LIMIT_CHARS)


def _from_anthropic_message(data: dict) -> dict:
    blocks = [block for block in data["content"] if isinstance(block, dict)]
    return {
        "content": "".join(block["text"] for block in blocks if block.get("type") == "text"
                           and isinstance(block.get("text"), str)),
        "tool_calls": [{"id": str(block.get("id") or ""), "type": "function",
                        "function": {"name": str(block.get("name") or ""),
                                     "arguments": orjson.dumps(block.get("input") or {}).decode()}}
                       for block in blocks if block.get("type") == "tool_use"],
    }
