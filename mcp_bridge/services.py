"""Writes: an interaction saved through the gateway's own MCP server, into the context app's store."""

from __future__ import annotations

import uuid

from django.utils import timezone

from context.pending import ConversationKey, Exchange
from context.services import answer_message, context_batch_write


def interaction_save(*, api_key_prefix: str, profile: str, conversation_id: str, user: str, assistant: str) -> str:
    """Append one user turn and its answer to the conversation (created when new), exactly as the gateway
    stores an exchange that sent only its latest turn; searchable at once. Returns the exchange's id."""
    request_id = f"mcp-{uuid.uuid4().hex}"
    exchange = Exchange(
        ConversationKey(api_key_prefix, profile, conversation_id), request_id, timezone.now(),
        [{"role": "user", "content": user}], answer_message(assistant, []),
    )
    context_batch_write([exchange])
    return request_id
