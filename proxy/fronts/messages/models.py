"""`GET /v1/models` in Anthropic's shape, for clients that send `anthropic-version` (Anthropic's SDKs,
Claude Code). Pure: the gateway's own listing (routing.catalog) in, Anthropic's page out.

Anthropic pages with `limit` (1–1000, default 20), `after_id` and `before_id`, and names each model
`{"type": "model", "id", "display_name", "created_at"}`. Glob aliases are left out: they are not ids.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.errors import InvalidRequest

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000


def wants_anthropic_shape(headers) -> bool:
    return bool(headers.get("anthropic-version"))


def anthropic_model(obj: dict[str, Any]) -> dict[str, Any]:
    created = datetime.fromtimestamp(int(obj.get("created") or 0), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"type": "model", "id": obj["id"], "display_name": obj["id"], "created_at": created}


def anthropic_page(listed: list[dict[str, Any]], query) -> dict[str, Any]:
    """Raises InvalidRequest (400) for a bad `limit`."""
    models = [anthropic_model(obj) for obj in listed if not obj.get("glob")]
    raw_limit = query.get("limit") or str(DEFAULT_LIMIT)
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise InvalidRequest(f"'limit' must be a whole number from 1 to {MAX_LIMIT}.", param="limit")
    limit = int(raw_limit)
    ids = [model["id"] for model in models]
    after, before = query.get("after_id"), query.get("before_id")
    if before:
        end = ids.index(before) if before in ids else len(ids)
        page = models[max(end - limit, 0):end]
        has_more = end - limit > 0
    else:
        start = ids.index(after) + 1 if after in ids else 0
        page = models[start:start + limit]
        has_more = start + limit < len(models)
    return {"data": page, "has_more": has_more, "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None}
