"""Stored conversations, their messages, the past interactions searched for similar ones, and per-profile policy.

A conversation belongs to one gateway key (by its prefix), one profile and one client-chosen
`conversation_id`: the same id under another key or profile is another conversation. Full-text search
over interactions is set up by the migrations per database (SQLite FTS5 table, PostgreSQL tsvector + GIN,
both kept in sync by triggers); `SearchTerm` counts the interactions each term occurs in, so a search can
leave out terms too common to tell interactions apart (context.search).
"""

from __future__ import annotations

from django.db import models


class ContextPolicy(models.Model):
    """What the gateway keeps and adds for one routing profile; profiles without a row use the CONTEXT_* settings."""

    class Scope(models.TextChoices):
        KEY_PROFILE = "key_profile", "same key, same profile"
        KEY = "key", "same key, any profile"
        PROFILE = "profile", "same profile, any key"

    profile = models.CharField(max_length=64, unique=True, help_text="The routing profile's name.")
    store = models.BooleanField(
        default=True, help_text="Save conversations and their exchanges. Off: nothing of this profile is stored."
    )
    history = models.BooleanField(
        default=True, help_text="Prepend the stored conversation when a request sends only its latest turn(s)."
    )
    similar = models.BooleanField(
        "similar interactions", default=True,
        help_text="Add the most relevant past interactions from other conversations as a context block.",
    )
    similar_scope = models.CharField(
        max_length=16, choices=Scope.choices, default=Scope.KEY_PROFILE,
        help_text="Whose past interactions may be added. 'Same profile, any key' shares them across keys.",
    )
    similar_top_k = models.PositiveSmallIntegerField("top k", default=3)
    similar_min_score = models.FloatField(
        "minimum score", default=0.3,
        help_text="0–1: the idf-weighted share of the request's distinctive words a past interaction must contain.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["profile"]
        verbose_name_plural = "context policies"

    def __str__(self) -> str:
        return f"context policy for {self.profile}"


class Conversation(models.Model):
    api_key_prefix = models.CharField(max_length=32, blank=True)
    profile = models.CharField(max_length=64, blank=True)
    conversation_id = models.CharField(max_length=200)
    title = models.CharField(max_length=200, blank=True, help_text="The start of its first user turn.")
    message_count = models.PositiveIntegerField(default=0)
    # What the request path compares a request with, without reading the messages (context.conversation).
    first_digest = models.CharField(max_length=32, blank=True)
    tail = models.JSONField(default=list, blank=True, help_text="[digest, request id] of the last messages.")
    # The interactions chosen for its similar-interactions block on its first request, kept so that the
    # block is the same bytes on every later request (providers' prompt caches keep hitting). None: not chosen.
    similar_ids = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["api_key_prefix", "profile", "conversation_id"], name="context_conversation_identity"
            )
        ]

    def __str__(self) -> str:
        return self.conversation_id


class Message(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    position = models.PositiveIntegerField()
    role = models.CharField(max_length=16)
    payload = models.TextField(help_text="The message as JSON, exactly as it is replayed.")
    size = models.PositiveIntegerField(help_text="Bytes of the payload: an upper bound of its tokens.")
    tokens = models.PositiveIntegerField(null=True, blank=True, help_text="Exact o200k tokens, once counted.")
    digest = models.CharField(max_length=32)
    request_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["conversation", "position"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "position"], name="context_message_position")
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id}#{self.position} {self.role}"


class Interaction(models.Model):
    """One user turn and the answers to it, as searched and shown in similar-interactions blocks."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="interactions")
    api_key_prefix = models.CharField(max_length=32, blank=True)
    profile = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    prompt = models.TextField()
    answer = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["api_key_prefix", "profile"], name="context_interaction_scope")]

    def __str__(self) -> str:
        return self.prompt[:80]


class SearchTerm(models.Model):
    """In how many interactions a term occurs (the row TOTAL_TERM: how many interactions there are)."""

    TOTAL_TERM = "#all"

    term = models.CharField(max_length=64, primary_key=True)
    docs = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.term}: {self.docs}"
