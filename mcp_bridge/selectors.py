"""Reads: the servers snapshot (for the request path), and the stored conversations the gateway's own MCP
server exposes (history and search, through the context app's store and search)."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from django.conf import settings
from django.db import close_old_connections

from context import search
from context.models import Conversation, Message
from context.selectors import SimilarAsk, similar_interactions
from context.text import message_text
from core.versions import version_token
from mcp_bridge.models import McpServer
from mcp_bridge.specs import McpSnapshot, ServerSpec, split_names

CONFIG_VERSION_KEY = "mcp"


def servers_build() -> McpSnapshot:
    servers = []
    for row in McpServer.objects.filter(enabled=True).order_by("position", "name"):
        servers.append(ServerSpec(
            id=row.pk, name=row.name, transport=row.transport, tool_name=row.tool_name,
            template=row.argument_template, timeout_ms=row.timeout_ms, profiles=frozenset(split_names(row.profiles)),
            position=row.position, command=row.command, args=tuple(str(arg) for arg in row.args or ()),
            env_vars=split_names(row.env_vars), url=row.url, auth_token_env=row.auth_token_env,
        ))
    return McpSnapshot(tuple(servers))


def servers_token() -> str | None:
    return version_token(CONFIG_VERSION_KEY)


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose stored conversations an MCP caller sees: one key's (by prefix), or every key's (None);
    one profile's, or any (None)."""

    api_key_prefix: str | None
    profile: str | None


def _text(payload: str) -> tuple[str, str]:
    try:
        message = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return "", payload
    if not isinstance(message, dict):
        return "", payload
    return str(message.get("role", "")), message_text(message)


def conversation_history(*, scope: Scope, conversation_id: str, limit: int) -> dict | None:
    """The newest `limit` messages of the conversation (oldest first), or None when the scope has none
    by that id. Several in scope (one per key or profile): the most recently updated."""
    close_old_connections()
    rows = Conversation.objects.filter(conversation_id=conversation_id)
    if scope.api_key_prefix is not None:
        rows = rows.filter(api_key_prefix=scope.api_key_prefix)
    if scope.profile is not None:
        rows = rows.filter(profile=scope.profile)
    conversation = rows.order_by("-updated_at", "-id").first()
    if conversation is None:
        return None
    newest = list(
        Message.objects.filter(conversation=conversation).order_by("-position")
        .values_list("position", "payload", "created_at")[:limit]
    )
    messages = []
    for position, payload, created_at in reversed(newest):
        role, text = _text(payload)
        messages.append({"position": position, "role": role, "content": text, "created_at": created_at.isoformat()})
    return {
        "conversation_id": conversation.conversation_id,
        "profile": conversation.profile,
        "title": conversation.title,
        "message_count": conversation.message_count,
        "messages": messages,
    }


def interactions_search(*, scope: Scope, query: str, top_k: int, min_score: float) -> list[dict]:
    """Past interactions in scope most relevant to `query` (the context app's full-text search), best first."""
    close_old_connections()
    ask = SimilarAsk(query, search.Scope(scope.api_key_prefix, scope.profile), top_k, min_score,
                     settings.CONTEXT_SIMILAR_MAX_MATCHES)
    return [
        {
            "prompt": hit.prompt,
            "answer": hit.answer,
            "date": hit.created_at.date().isoformat() if hasattr(hit.created_at, "date") else str(hit.created_at),
            "score": round(hit.score, 3),
        }
        for hit in similar_interactions(ask, exclude_conversation=None)
    ]
