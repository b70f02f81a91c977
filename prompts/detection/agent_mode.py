"""The mode an agent declares for itself: a cheap, strong role signal when it is there.

Several agents tell the model which mode the person picked, and the mode says what deliverable is wanted:

- Roo Code (and its forks Kilo Code, Zoo Code) opens its system prompt with the mode's role definition
  ("You are Roo, an experienced technical leader ..." for Architect) and writes the mode slug into every
  `<environment_details>` block (`# Current Mode` / `<slug>architect</slug>`). The system prompt's MODES section
  lists *every* mode's definition, so only the opening of the prompt is read.
- Cline writes `# Current Mode` / `PLAN MODE` or `ACT MODE` into its environment details.
- Claude Code (and Copilot's agent) inject "Plan mode is active. ..." as a reminder while the person plans.

Not every mode is a declaration of intent. Roo's Code mode is its default and is used for debugging, tests and
docs as much as for features; Ask is a broad question-answering mode; Cline's Act mode is its default. Those are
reported with `binding=False` so the caller can log them, and the detector ignores them rather than let a default
setting override what the person wrote.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from prompts.detection.scaffolding import message_text, user_turn_text

__all__ = ["AgentMode", "detect_agent_mode"]

Message = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class AgentMode:
    """A mode found in the request: which agent, which mode, the role it maps to, and whether it is binding."""

    agent: str
    mode: str
    role: str | None
    binding: bool


# The opening of Roo-family system prompts. "You are <name>, <definition>": the name varies across forks.
# Plain phrases, looked for in the lower-cased opening: most agents open with "You are <name>," too (Claude Code
# does), so this runs on nearly every request.
_ROLE_DEFINITIONS = (
    ("an experienced technical leader", "architect", "architect", True),
    ("an expert software debugger", "debug", "debugging", True),
    ("a strategic workflow orchestrator", "orchestrator", "architect", True),
    ("a highly skilled software engineer", "code", "implementation", False),
    ("a knowledgeable technical assistant", "ask", "general", False),
)
_ROO_OPENING_RE = re.compile(r"^\s*You are [^,\n]{1,40},")
_OPENING_CHARS = 600
_SYSTEM_HEAD_CHARS = 4000  # where a plan-mode line is looked for

_ENV_SLUG_RE = re.compile(r"#\s*Current Mode\s*\n\s*<slug>\s*([\w.\-]+)\s*</slug>", re.I)
_ENV_CLINE_RE = re.compile(r"#\s*Current Mode\s*\n\s*(PLAN|ACT) MODE\b")
_PLAN_ACTIVE_RE = re.compile(
    r"(?:^|\n|>)\s*(?:#+\s*)?(?:\[PLAN MODE ACTIVE\]|Plan mode is active\b|Plan mode still active\b)", re.I
)
_PLAN_EXITED_RE = re.compile(r"\b(?:exited plan mode|plan mode (?:is )?(?:off|exited|inactive))\b", re.I)

# Built-in Roo slugs first; then custom slugs by keyword, most specific first ("code-reviewer" is a reviewer).
_BUILTIN_SLUGS = {
    "architect": ("architect", True),
    "debug": ("debugging", True),
    "orchestrator": ("architect", True),
    "code": ("implementation", False),
    "ask": ("general", False),
}
_SLUG_KEYWORDS = (
    (re.compile(r"review|audit"), "code_review", True),
    (re.compile(r"test|tdd|\bqa\b|(?:^|[-_])qa(?:$|[-_])"), "testing", True),
    (re.compile(r"debug|troubleshoot"), "debugging", True),
    (re.compile(r"doc|writer|technical-writ"), "documentation", True),
    (re.compile(r"research|investigat"), "research", True),
    (re.compile(r"architect|planner|plan|design"), "architect", True),
    (re.compile(r"ask|question|explain"), "general", False),
    (re.compile(r"code|coder|dev|build|implement|engineer"), "implementation", False),
)


def _system_text(messages: Sequence[Message], system: Any) -> str:
    chunks = [message_text(system)] if system is not None else []
    for message in messages:
        if str(message.get("role", "")).lower() in ("system", "developer"):
            chunks.append(message_text(message.get("content")))
    return "\n\n".join(c for c in chunks if c)


def _current_turn(messages: Sequence[Message]) -> list[str]:
    """Raw text of the user-side messages since (and including) the last one the person typed."""
    texts: list[str] = []
    for message in reversed(messages):
        role = str(message.get("role", "")).lower()
        if role in ("user", "human", "tool", "function"):
            texts.append(message_text(message.get("content")))
            if user_turn_text(message):
                break
    return texts


def _slug_mode(slug: str) -> AgentMode | None:
    slug = slug.lower()
    if slug in _BUILTIN_SLUGS:
        role, binding = _BUILTIN_SLUGS[slug]
        return AgentMode("roo", slug, role, binding)
    for pattern, role, binding in _SLUG_KEYWORDS:
        if pattern.search(slug):
            return AgentMode("roo", slug, role, binding)
    return None


def detect_agent_mode(messages: Sequence[Message], system: Any = None) -> AgentMode | None:
    """The mode the agent declared for the current turn, or None when no mode is declared.

    Precedence: a plan-mode reminder in the current turn, then the latest environment details (they reflect a
    mode switch mid-conversation), then the opening of the system prompt.
    """
    for text in _current_turn(messages):
        if "plan mode" not in text.lower():  # a cheap gate: user turns can carry whole log files
            continue
        if _PLAN_EXITED_RE.search(text):
            break
        if _PLAN_ACTIVE_RE.search(text):
            return AgentMode("claude_code", "plan", "architect", True)
    plan_declared, opening_mode = _system_modes(_system_text(messages, system)[:_SYSTEM_HEAD_CHARS])
    if plan_declared:
        return AgentMode("copilot", "plan", "architect", True)

    for message in reversed(messages):
        if str(message.get("role", "")).lower() not in ("user", "human"):
            continue
        text = message_text(message.get("content"))
        if "environment_details" not in text or "Current Mode" not in text:
            continue
        if match := _ENV_SLUG_RE.search(text):
            found = _slug_mode(match.group(1))
            if found is not None:
                return found
            break
        if match := _ENV_CLINE_RE.search(text):
            if match.group(1) == "PLAN":
                return AgentMode("cline", "plan", "architect", True)
            return AgentMode("cline", "act", "implementation", False)
        break

    return opening_mode


@lru_cache(maxsize=64)
def _system_modes(head: str) -> tuple[bool, AgentMode | None]:
    """What the head of a system prompt declares: a plan-mode line, and the Roo mode of its opening.

    Remembered per prompt: an agent sends the same system prompt on every request of a session, and lower-casing
    a few thousand characters of non-ASCII text (Claude Code's has some) cost about 20 µs a request."""
    plan = "plan mode" in head.lower() and bool(_PLAN_ACTIVE_RE.search(head)) and not _PLAN_EXITED_RE.search(head)
    opening = head[:_OPENING_CHARS]
    if _ROO_OPENING_RE.match(opening):
        opening = opening.lower()
        for phrase, mode, role, binding in _ROLE_DEFINITIONS:
            if phrase in opening:
                return plan, AgentMode("roo", mode, role, binding)
    return plan, None
