"""Reads of the prompts app (sync ORM; the snapshot holder runs them off the event loop)."""

from __future__ import annotations

import logging
import re

from prompts.detection.fast_path import DEFAULT_RULES, PatternRule, compile_rules
from prompts.models import DetectionRule, RoleStrategy, StrategyOptOut
from prompts.snapshot import PromptSnapshot
from prompts.strategies import OFF, render_block, strategy
from routing.selectors import read_config_token

logger = logging.getLogger(__name__)


def detection_rules_read() -> tuple[PatternRule, ...] | None:
    """The admin's enabled rules, or None when there are none (or they equal the shipped table)."""
    rules = tuple(
        PatternRule(role, pattern, weight, case_sensitive)
        for role, pattern, weight, case_sensitive in DetectionRule.objects.filter(enabled=True)
        .order_by("position", "id").values_list("role", "pattern", "weight", "case_sensitive")
    )
    if not rules or rules == DEFAULT_RULES:
        return None  # the classifier was trained on the shipped table's cues: keep it fed with them
    return rules


def build_prompt_snapshot() -> PromptSnapshot:
    strategies = {}
    for row in RoleStrategy.objects.select_related("role").filter(enabled=True).exclude(placement=OFF):
        block = render_block(row.role.name, row.system_prompt, RoleStrategy.split_lines(row.techniques),
                             RoleStrategy.split_lines(row.constraints),
                             row.examples if isinstance(row.examples, list) else [])
        strategies[row.role.name] = strategy(row.role.name, row.placement, block)
    compiled = None
    rules = detection_rules_read()
    if rules is not None:
        try:
            compiled = compile_rules(rules)
        except (re.error, ValueError):  # the admin validates; a bad row written otherwise keeps the shipped table
            logger.exception("detection rules do not compile; using the shipped table")
    opt_outs = list(StrategyOptOut.objects.values_list("kind", "name"))
    return PromptSnapshot(
        strategies=strategies,
        rules=compiled,
        off_profiles=frozenset(name for kind, name in opt_outs if kind == StrategyOptOut.Kind.PROFILE),
        off_keys=frozenset(name for kind, name in opt_outs if kind == StrategyOptOut.Kind.KEY),
    )


def read_prompts_token() -> str | None:
    """Strategy and rule edits bump the routing configuration's version (prompts.signals)."""
    return read_config_token()
