"""Gateway keys: who may call the gateway, with which profile, models and roles, how fast and how much."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords


class GatewayKey(models.Model):
    name = models.CharField(max_length=100, help_text="Who or what uses this key (an agent, a person, a team).")
    prefix = models.CharField(max_length=16, unique=True, editable=False, help_text="The key's visible start.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    profile = models.ForeignKey(
        "routing.Profile", null=True, blank=True, on_delete=models.PROTECT,
        help_text="The routing profile this key uses; requests cannot pick another. Empty: the active profile.",
    )
    allowed_models = models.TextField(
        blank=True,
        help_text="Model ids this key may use, one per line or comma-separated; '*' globs allowed "
        "(e.g. 'nanogpt/*'). Empty: every model.",
    )
    allowed_roles = models.CharField(
        max_length=300, blank=True, help_text="Roles this key may use, comma-separated. Empty: every role."
    )
    rpm_limit = models.PositiveIntegerField("requests per minute", null=True, blank=True, help_text="Empty: no limit.")
    tpm_limit = models.PositiveIntegerField("tokens per minute", null=True, blank=True, help_text="Empty: no limit.")
    monthly_budget = models.DecimalField(
        "monthly budget ($)", max_digits=12, decimal_places=4, null=True, blank=True,
        help_text="Spend per calendar month (UTC) after which requests get 429 insufficient_quota. Empty: none.",
    )
    is_admin = models.BooleanField(default=False, help_text="May read the monitoring endpoints (/status).")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Metadata only: the key's hash never enters the history (a revert keeps the current one).
    history = HistoricalRecords(excluded_fields=["key_hash"])

    class Meta:
        ordering = ["name", "prefix"]
        verbose_name = "gateway key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()
