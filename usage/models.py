"""One row per request, failures included: what was asked, what answered, what it cost."""

from __future__ import annotations

from django.db import models


class UsageRecord(models.Model):
    class Status(models.TextChoices):
        OK = "ok"
        ERROR = "error"
        CLIENT_CLOSED = "client_closed", "client closed"

    created_at = models.DateTimeField(db_index=True, help_text="When the request arrived.")
    request_id = models.CharField(max_length=64, unique=True)
    profile = models.CharField(max_length=64, blank=True)
    api_key_prefix = models.CharField(max_length=32, blank=True)
    role = models.CharField(max_length=32, blank=True, db_index=True)
    role_source = models.CharField(
        max_length=16, blank=True, help_text="Which tier decided the role: explicit, agent_mode, fast_path, "
        "classifier or default."
    )
    role_confidence = models.FloatField(null=True, blank=True, help_text="How sure that tier was (0..1).")
    conversation_id = models.CharField(max_length=200, blank=True, db_index=True)
    requested_model = models.CharField(max_length=200, blank=True)
    model = models.CharField("chosen model", max_length=200, blank=True, db_index=True)
    provider = models.CharField(max_length=64, blank=True, db_index=True)
    upstream_model = models.CharField(max_length=200, blank=True)
    stream = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    attempt_log = models.JSONField(default=list, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField("cost ($)", max_digits=14, decimal_places=8, default=0)
    latency_ms = models.FloatField(default=0)
    ttft_ms = models.FloatField("time to first token (ms)", null=True, blank=True)
    overhead_ms = models.FloatField("gateway overhead (ms)", default=0)
    status_code = models.PositiveSmallIntegerField(default=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OK)
    error_type = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["provider", "created_at"], name="usage_provider_time"),
            # a key's spend this month: budgets (seeded when keys load) and the keys admin
            models.Index(fields=["api_key_prefix", "created_at"], name="usage_key_time"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.model or self.requested_model} {self.status_code}"
