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
    cached_tokens = models.PositiveIntegerField(default=0, help_text="Prompt tokens read from the provider's cache.")
    cache_creation_tokens = models.PositiveIntegerField(
        default=0, help_text="Prompt tokens written to the provider's cache (Anthropic prices them apart)."
    )
    reasoning_tokens = models.PositiveIntegerField(default=0, help_text="Completion tokens spent thinking.")
    tokens_estimated = models.BooleanField(
        default=False, help_text="The upstream reported no usage: the gateway counted the tokens itself."
    )
    cost = models.DecimalField("cost ($)", max_digits=14, decimal_places=8, default=0)
    latency_ms = models.FloatField(default=0)
    ttft_ms = models.FloatField("time to first token (ms)", null=True, blank=True)
    overhead_ms = models.FloatField("gateway overhead (ms)", default=0)
    route_reason = models.TextField(blank=True, help_text="Why this model: how it was chosen, what was skipped.")
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


DIMENSION_FIELDS = ("model", "provider", "role", "api_key_prefix", "profile", "role_source", "status_class")
SUM_FIELDS = (
    "requests", "errors", "fallbacks", "prompt_tokens", "completion_tokens", "total_tokens", "cost",
    "latency_ms_sum", "ttft_ms_sum", "ttft_count", "overhead_ms_sum",
)


class RollupSums(models.Model):
    """The dimensions and sums both roll-ups share; each adds its time bucket as the first key field.

    Written in the same transaction as the rows they sum (usage.services.usage_records_write), only for
    rows that transaction actually inserted, so a retried batch or a journal replay never counts a row
    twice. Buckets are UTC: a day holds exactly the requests that arrived between its midnights.
    """

    model = models.CharField(max_length=200, blank=True)
    provider = models.CharField(max_length=64, blank=True)
    role = models.CharField(max_length=32, blank=True)
    api_key_prefix = models.CharField(max_length=32, blank=True)
    profile = models.CharField(max_length=64, blank=True)
    role_source = models.CharField(max_length=32, blank=True, help_text="How the role was decided, when known.")
    status_class = models.CharField(max_length=8, help_text="2xx, 4xx, 5xx ...")
    requests = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    fallbacks = models.BigIntegerField(default=0, help_text="Requests that needed more than one attempt.")
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    total_tokens = models.BigIntegerField(default=0)
    cost = models.DecimalField("cost ($)", max_digits=20, decimal_places=8, default=0)
    latency_ms_sum = models.FloatField(default=0)
    ttft_ms_sum = models.FloatField(default=0)
    ttft_count = models.BigIntegerField(default=0)
    overhead_ms_sum = models.FloatField(default=0)

    SUM_FIELDS = SUM_FIELDS

    class Meta:
        abstract = True


class UsageRollup(RollupSums):
    """Per UTC hour: the short ranges' series (two days or less) and reports by the hour."""

    hour = models.DateTimeField(help_text="Start of the hour (UTC) the requests arrived in.")

    BUCKET = "hour"
    KEY_FIELDS = ("hour", *DIMENSION_FIELDS)

    class Meta:
        db_table = "usage_rollup"
        ordering = ["-hour"]
        verbose_name = verbose_name_plural = "usage dashboard"
        constraints = [models.UniqueConstraint(fields=("hour", *DIMENSION_FIELDS), name="usage_rollup_key")]
        indexes = [models.Index(fields=["hour"], name="usage_rollup_hour")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h {self.model} {self.role} {self.status_class}: {self.requests}"


class UsageDailyRollup(RollupSums):
    """Per UTC day: what the dashboards read for whole-day ranges (a few thousand rows a month, not millions)."""

    day = models.DateField(help_text="The UTC day the requests arrived on.")

    BUCKET = "day"
    KEY_FIELDS = ("day", *DIMENSION_FIELDS)

    class Meta:
        db_table = "usage_rollup_daily"
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=("day", *DIMENSION_FIELDS), name="usage_rollup_daily_key")]
        indexes = [models.Index(fields=["day"], name="usage_rollup_daily_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.model} {self.role} {self.status_class}: {self.requests}"
