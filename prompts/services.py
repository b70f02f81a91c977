"""Writes of the prompts app."""

from __future__ import annotations

from django.db import transaction

from prompts.detection.fast_path import DEFAULT_RULES
from prompts.models import DetectionRule
from routing.services import config_bulk_edit


def detection_rules_load_defaults() -> int:
    """Replace the stored detection rules with the shipped table (in its order); returns how many."""
    with config_bulk_edit(), transaction.atomic():
        DetectionRule.objects.all().delete()
        DetectionRule.objects.bulk_create(
            DetectionRule(role=rule.role, pattern=rule.pattern, weight=rule.weight,
                          case_sensitive=rule.case_sensitive, position=index)
            for index, rule in enumerate(DEFAULT_RULES)
        )
        from prompts.state import prompt_snapshot

        transaction.on_commit(prompt_snapshot.invalidate)
    return len(DEFAULT_RULES)
