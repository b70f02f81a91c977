"""Per-role prompt strategies, the fast path's detection rules, and where strategies are switched off.

The request path never reads these rows: it reads `prompts.state.prompt_snapshot`, rebuilt when one changes.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

from routing.models import RoleName


class RoleStrategy(models.Model):
    class Placement(models.TextChoices):
        APPEND = "append", "after the client's system prompt"
        PREPEND = "prepend", "before the client's system prompt"
        OFF = "off", "not added"

    role = models.OneToOneField("routing.Role", on_delete=models.CASCADE, related_name="strategy")
    system_prompt = models.TextField(help_text="The heart of the strategy block added to requests in this role.")
    techniques = models.TextField(blank=True, help_text="Optimisation techniques, one per line.")
    constraints = models.TextField(blank=True, help_text="Constraints the answer must respect, one per line.")
    examples = models.JSONField(
        default=list, blank=True, help_text='A list of {"input": ..., "output": ...} examples.'
    )
    placement = models.CharField(
        max_length=8, choices=Placement.choices, default=Placement.APPEND,
        help_text="Where the strategy block goes. The client's own messages are never changed or reordered.",
    )
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["role__name"]
        verbose_name_plural = "role strategies"

    def __str__(self) -> str:
        return f"strategy for {self.role}"

    @staticmethod
    def split_lines(text: str) -> list[str]:
        return [line.strip() for line in text.splitlines() if line.strip()]


class DetectionRule(models.Model):
    """One weighted fast-path cue. With no enabled row the shipped table (prompts.detection.fast_path) is used;
    `manage.py detection_rules --load-defaults` copies it here to edit."""

    role = models.CharField(max_length=32, choices=RoleName.choices)
    pattern = models.TextField(help_text="A Python regular expression, matched anywhere in the user's task text.")
    weight = models.FloatField(help_text="Added to the role when the pattern matches; negative argues against it.")
    case_sensitive = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0, help_text="Order in the table (ties break by it).")
    note = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.role} {self.weight:+g}: {self.pattern[:60]}"

    def clean(self) -> None:
        try:
            re.compile(self.pattern)
        except re.error as error:
            raise ValidationError({"pattern": f"Not a valid regular expression: {error}"}) from error


class StrategyOptOut(models.Model):
    """Strategies are not added for this profile or gateway key (a request can also send X-Gateway-Optimize: off)."""

    class Kind(models.TextChoices):
        PROFILE = "profile"
        KEY = "key", "gateway key (prefix)"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    name = models.CharField(max_length=64, help_text="The profile's name, or the key's visible prefix.")
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [models.UniqueConstraint(fields=["kind", "name"], name="prompts_optout_unique")]
        verbose_name = "strategies switched off"
        verbose_name_plural = "strategies switched off"

    def __str__(self) -> str:
        return f"no strategies for {self.kind} {self.name}"
