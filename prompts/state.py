"""The process's prompts snapshot and sticky-role map: built lazily, no DB or network at import."""

from __future__ import annotations

from django.conf import settings

from core.snapshots import SnapshotHolder
from prompts.llm_rewrite import Restater
from prompts.selectors import build_prompt_snapshot, read_prompts_token
from prompts.snapshot import PromptSnapshot
from prompts.sticky import StickyRoles

prompt_snapshot: SnapshotHolder[PromptSnapshot] = SnapshotHolder(
    build_prompt_snapshot, read_prompts_token, settings.ROUTING_REFRESH_SECONDS, name="prompts"
)

sticky_roles = StickyRoles(settings.ROLE_STICKY_MAX_CONVERSATIONS, settings.ROLE_STICKY_TTL_SECONDS,
                           settings.REDIS_URL)

restater = Restater(settings.PROMPT_REWRITE_MODEL, settings.PROMPT_REWRITE_TIMEOUT_MS,
                    settings.PROMPT_REWRITE_CACHE_SIZE)
