"""Role detection for `model: "auto"`: pure functions from a chat request to the role it needs.

No Django, no I/O at import; the classifier's weights are read from the shipped file on first use.
"""

from __future__ import annotations

from prompts.detection.detector import ROLES, Detection, detect_role
from prompts.detection.scaffolding import is_new_task, task_text

__all__ = ["ROLES", "Detection", "detect_role", "is_new_task", "task_text"]
