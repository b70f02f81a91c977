"""The prompts features on the request path: the `detect_role` and `rewrite` pipeline steps.

`ctx` is the request path's RequestContext (proxy.context), which this package cannot import (it sits below the
request path); what they read of it: `chat`, `headers`, `caller`, `profile_name`, `extras`; what they write:
`role`, `role_source`, `role_confidence`, `body_transforms`, `response_headers`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from django.conf import settings

from prompts.detection import detect_role as detect
from prompts.detection import is_new_task, task_text
from prompts.detection.agent_mode import detect_agent_mode
from prompts.detection.detector import AGENT_MODE_CONFIDENCE
from prompts.llm_rewrite import restatement_message
from prompts.snapshot import PromptSnapshot
from prompts.state import prompt_snapshot, restater, sticky_roles
from prompts.sticky import Decision
from prompts.strategies import Strategy, with_strategy
from routing.selection import DEFAULT_ROLE, is_auto, routes_by_detected_role
from routing.state import routing_snapshot

EXTRA = "prompts"  # ctx.extras key: this request's PromptSnapshot
STRATEGY = "strategy"  # ctx.extras key: the Strategy the rewrite step chose
RESTATEMENT = "restatement"  # ctx.extras key: the LLM restatement's message, when one was made
EXPLICIT = "explicit"
# Detection reads the system messages and the newest messages only: an agent loop hundreds of messages long would
# otherwise be walked (tool results flattened) on every request. Looked at whole only when the window holds no task.
DETECTION_WINDOW = 64
SYSTEM_ROLES = frozenset({"system", "developer"})
OFF_VALUES = frozenset({"off", "false", "0", "no"})


def conversation_key(ctx: Any) -> tuple[str, str] | None:
    """The conversation a request belongs to, per caller: its conversation id, else an agent's session header."""
    conversation = ctx.chat.conversation_id
    if not conversation:
        headers = ctx.headers
        for name in settings.ROLE_STICKY_SESSION_HEADERS:
            value = headers.get(name)
            if value:
                conversation = f"{name}:{value[:200]}"
                break
        else:
            return None
    return ctx.caller.prefix, conversation


async def detect_role(ctx: Any) -> None:
    """An explicit role wins; a `model: "auto"` request without one gets the detector's role (sticky per
    conversation while the agent loops on tool results); a named model without a role stays `general`."""
    chat = ctx.chat
    if prompt_snapshot.token != routing_snapshot.token:
        prompt_snapshot.invalidate()  # both follow the same version: strategies are never older than routing
    snapshot = ctx.extras[EXTRA] = await prompt_snapshot.get()
    if chat.role:
        _decide(ctx, Decision(chat.role, EXPLICIT, 1.0), conversation_key(ctx))
        return
    if not routes_by_detected_role(ctx.snapshot, chat.model):
        ctx.role, ctx.role_source, ctx.role_confidence = DEFAULT_ROLE, "default", None
        return
    messages = chat.body["messages"]
    window = detection_window(messages)
    key = conversation_key(ctx)
    if key is not None and not is_new_task(messages):
        previous = await sticky_roles.lookup(key)
        if previous is not None:
            mode = detect_agent_mode(window)
            if mode is not None and mode.binding and mode.role is not None:
                _decide(ctx, Decision(mode.role, "agent_mode", AGENT_MODE_CONFIDENCE), key)
            else:
                ctx.response_headers["x-gateway-role-sticky"] = "true"
                _decide(ctx, previous, key)
            return
    found = detect(window, rules=snapshot.rules)
    if found.source == "default" and window is not messages:
        found = detect(messages, rules=snapshot.rules)
    _decide(ctx, Decision(found.role, found.source, found.confidence), key)


def detection_window(messages: list) -> list:
    """The leading system messages and the newest DETECTION_WINDOW messages (the list itself when short)."""
    if len(messages) <= DETECTION_WINDOW:
        return messages
    head = 0
    while head < len(messages) and isinstance(messages[head], dict) and messages[head].get("role") in SYSTEM_ROLES:
        head += 1
    return [*messages[:head], *messages[max(head, len(messages) - DETECTION_WINDOW):]]


def _decide(ctx: Any, decision: Decision, key: tuple[str, str] | None) -> None:
    allowed = ctx.caller.key.allowed_roles if ctx.caller.key is not None else frozenset()
    if allowed and decision.source != EXPLICIT and decision.role not in allowed and DEFAULT_ROLE in allowed:
        # The gateway's guess must not earn the caller a 403: a key limited to some roles gets the default.
        decision = Decision(DEFAULT_ROLE, "default", 0.0)
    ctx.role, ctx.role_source, ctx.role_confidence = decision.role, decision.source, decision.confidence
    if key is not None:
        sticky_roles.remember(key, decision)


def rewrite(ctx: Any) -> Awaitable[None] | None:
    """Add the role's strategy (a body transform) unless it is switched off for this request, key or profile.
    A request for a named model without a role is left as the client sent it. With PROMPT_REWRITE_MODEL set,
    returns the awaitable that adds the model's restatement of a new task (nothing to await otherwise)."""
    chat = ctx.chat
    snapshot: PromptSnapshot | None = ctx.extras.get(EXTRA)
    if snapshot is None or not snapshot.strategies:
        return
    if not (chat.role or routes_by_detected_role(ctx.snapshot, chat.model)):
        return
    item = snapshot.strategies.get(ctx.role)
    if item is None:
        return
    if (ctx.headers.get("x-gateway-optimize") or "").strip().lower() in OFF_VALUES:
        ctx.response_headers["x-gateway-strategy"] = "off; request"
        return
    if ctx.profile_name in snapshot.off_profiles or ctx.caller.prefix in snapshot.off_keys:
        ctx.response_headers["x-gateway-strategy"] = "off; policy"
        return
    ctx.extras[STRATEGY] = item
    ctx.body_transforms.append(add_strategy)
    ctx.response_headers["x-gateway-strategy"] = f"{item.role}; {item.placement}"
    if restater.enabled and is_new_task(chat.body["messages"]):
        return _restate(ctx)
    return None


async def _restate(ctx: Any) -> None:
    text = task_text(detection_window(ctx.chat.body["messages"]))
    restated = await restater.restate(ctx.snapshot, ctx.role, text)
    if restated is None:
        ctx.response_headers["x-gateway-rewrite"] = "template"
        return
    ctx.extras[RESTATEMENT] = restatement_message(ctx.role, restated)
    ctx.body_transforms.append(add_restatement)
    ctx.response_headers["x-gateway-rewrite"] = "llm"


def add_restatement(ctx: Any, candidate: Any, body: dict) -> dict:
    """The body transform: the model's restatement, after the client's last message."""
    return {**body, "messages": [*body["messages"], ctx.extras[RESTATEMENT]]}


def add_strategy(ctx: Any, candidate: Any, body: dict) -> dict:
    """The body transform: the chosen strategy's block, the same for every candidate."""
    if candidate.via and not is_auto(candidate.via):
        return body  # an alias served by the model of the name asked (e.g. `anthropic/*`): not routed by role
    item: Strategy = ctx.extras[STRATEGY]
    return with_strategy(body, item)
