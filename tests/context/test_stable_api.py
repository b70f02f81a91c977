"""The context store's functions other parts call (the MCP server): save, read back, search; scoped per key."""

from __future__ import annotations

import pytest

from context.selectors import conversation_messages, interactions_search
from context.services import interaction_save


@pytest.mark.django_db(transaction=True)
def test_save_read_and_search_an_interaction():
    interaction_save(api_key_prefix="gwk_a", profile="personal", conversation_id="c1",
                     prompt="How do I rotate the Postgres WAL archive?", answer="Use archive_cleanup_command.",
                     request_id="req-1")
    interaction_save(api_key_prefix="gwk_a", profile="personal", conversation_id="c1",
                     prompt="How do I rotate the Postgres WAL archive?", answer="Use archive_cleanup_command.",
                     request_id="req-1")  # the same request again: stored once
    interaction_save(api_key_prefix="gwk_a", profile="personal", conversation_id="c1",
                     prompt="And on a replica?", answer="Run it on the primary only.")
    assert conversation_messages(api_key_prefix="gwk_a", profile="personal", conversation_id="c1") == [
        {"role": "user", "content": "How do I rotate the Postgres WAL archive?"},
        {"role": "assistant", "content": "Use archive_cleanup_command."},
        {"role": "user", "content": "And on a replica?"},
        {"role": "assistant", "content": "Run it on the primary only."},
    ]
    assert len(conversation_messages(api_key_prefix="gwk_a", profile="personal", conversation_id="c1",
                                     limit=2)) == 2
    assert conversation_messages(api_key_prefix="gwk_b", profile="personal", conversation_id="c1") == []
    hits = interactions_search(query="rotate postgres wal archive", api_key_prefix="gwk_a", profile="personal")
    assert hits[0].prompt == "How do I rotate the Postgres WAL archive?"
    assert interactions_search(query="rotate postgres wal archive", api_key_prefix="gwk_b", profile=None) == []
    assert interactions_search(query="rotate postgres wal archive", api_key_prefix="gwk_a", profile="personal",
                               exclude_conversation_id="c1") == []
