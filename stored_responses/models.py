"""A stored response: what `previous_response_id` continues from."""

from __future__ import annotations

from django.db import models


class StoredResponse(models.Model):
    response_id = models.CharField(max_length=64, primary_key=True)
    api_key_prefix = models.CharField(max_length=32, blank=True, help_text="Only this key may continue from it.")
    created_at = models.DateTimeField(db_index=True)
    model = models.CharField(max_length=200, blank=True)
    # The conversation as chat messages (orjson text): history + this request's input + the answer.
    # Instructions are not part of it: a follow-up sends its own, as with OpenAI's API.
    messages = models.TextField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.response_id
