"""Which role a `model: "auto"` request needs, from what the person asked.

Roles are defined by THE DELIVERABLE asked for, not by the words used:

- **architect** - a design or plan for the person's own system: architecture, module/service boundaries, data
  model, migration or scaling plan, an ADR/RFC for a decision still to be made. "Design our test infrastructure"
  is architect, not testing.
- **implementation** - working code: a feature, function, endpoint, refactor, port, migration script, config as
  code. "Write code that generates docs" is implementation; so is applying review comments.
- **code_review** - judgement on existing code with no failure reported: "review this", "what's wrong with this
  code?", "is this idiomatic/safe?". Reviewing test code is code_review.
- **debugging** - a failure is reported (traceback, error message, crash, wrong output, flaky test) and its
  cause or fix is wanted. A traceback plus "why does this fail" is debugging even inside a test file.
- **testing** - new tests are the deliverable: unit/integration/e2e tests, fixtures, coverage, a regression test
  that reproduces a bug.
- **documentation** - prose for people is the deliverable: README, docstrings, comments, guides, changelogs,
  runbooks, a write-up of a decision already made or of an architecture that already exists.
- **research** - gathering sourced evidence: comparing libraries or services with citations, finding papers,
  benchmarks, bug reports, official guidance. "No sources needed" takes a request out of research.
- **general** - one-liners, facts, definitions, translations and chit-chat; also the fallback when unsure.

Tiers, first decisive one wins (the explicit tier - a role named by the client - is the caller's):

1. ``agent_mode`` - the agent declared a binding mode (Roo Architect/Debug/Orchestrator or a custom mode whose
   slug names a role, Cline Plan mode, Claude Code / Copilot plan mode).
2. ``fast_path`` - weighted regex cues, only when one role wins by a clear margin.
3. ``classifier`` - the linear model, only when its top probability clears `CLASSIFIER_THRESHOLD`.
4. ``default`` - "general".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prompts.detection import classifier, fast_path
from prompts.detection.agent_mode import detect_agent_mode
from prompts.detection.fast_path import PatternRule
from prompts.detection.scaffolding import task_text

__all__ = ["CLASSIFIER_THRESHOLD", "ROLES", "Detection", "detect_role"]

ROLES: tuple[str, ...] = fast_path.ROLES
DEFAULT_ROLE = "general"
# Chosen by 4-fold cross-validation on the training split (never the held-out rows); below it the model guesses.
CLASSIFIER_THRESHOLD = 0.25
AGENT_MODE_CONFIDENCE = 0.95


@dataclass(frozen=True, slots=True)
class Detection:
    """The detected role, which tier decided it, how sure that tier was (0..1), and the task text it read."""

    role: str
    source: str
    confidence: float
    task: str


def detect_role(
    messages: Sequence[Mapping[str, Any]],
    system: Any = None,
    *,
    rules: Sequence[PatternRule] | fast_path.CompiledRules | None = None,
) -> Detection:
    """Detect the role for a chat request (OpenAI or Anthropic message shapes; `system` as Anthropic sends it).

    `rules` replaces the fast path's default pattern table (an admin-edited table). The classifier keeps using
    the cues it was trained with. Never raises on odd message shapes: unknown content is ignored.
    """
    task = task_text(messages, system)
    mode = detect_agent_mode(messages, system)
    if mode is not None and mode.binding and mode.role is not None:
        return Detection(mode.role, "agent_mode", AGENT_MODE_CONFIDENCE, task)
    if not task.strip():
        return Detection(DEFAULT_ROLE, "default", 0.0, task)

    cues = fast_path.score(task, rules)
    if cues.role is not None:
        return Detection(cues.role, "fast_path", cues.confidence, task)

    # The classifier was trained on the default table's cues; an admin table's cues are not its features.
    probs = classifier.predict_proba(task, cues=cues if rules is None else None)
    role = max(probs, key=probs.__getitem__)
    if probs[role] >= CLASSIFIER_THRESHOLD:
        return Detection(role, "classifier", round(probs[role], 3), task)
    return Detection(DEFAULT_ROLE, "default", round(probs.get(DEFAULT_ROLE, 0.0), 3), task)
