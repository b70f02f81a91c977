"""Per-role prompt strategies: stored and edited now; the prompt engineer that applies them comes later."""

from __future__ import annotations

from django.db import models
from simple_history.models import HistoricalRecords


class RoleStrategy(models.Model):
    role = models.OneToOneField("routing.Role", on_delete=models.CASCADE, related_name="strategy")
    system_prompt = models.TextField(help_text="Prepended as the system message for requests in this role.")
    techniques = models.TextField(blank=True, help_text="Optimisation techniques, one per line.")
    constraints = models.TextField(blank=True, help_text="Constraints the answer must respect, one per line.")
    examples = models.JSONField(
        default=list, blank=True, help_text='A list of {"input": ..., "output": ...} examples.'
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
