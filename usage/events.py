"""The plain record of one request, built on the hot path and written later in a batch."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class UsageEvent:
    created_at: datetime
    request_id: str
    profile: str = ""
    api_key_prefix: str = ""
    role: str = ""
    role_source: str = ""
    role_confidence: float | None = None
    conversation_id: str = ""
    requested_model: str = ""
    model: str = ""
    provider: str = ""
    upstream_model: str = ""
    stream: bool = False
    attempts: int = 0
    attempt_log: list[dict] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0
    tokens_estimated: bool = False
    cost: float = 0.0
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    overhead_ms: float = 0.0
    status_code: int = 200
    status: str = "ok"
    error_type: str = ""
    error_message: str = ""
    route_reason: str = ""
