"""An ESTIMATE of a Messages request's input tokens, for `/v1/messages/count_tokens`.

The gateway cannot know which model (hence which tokenizer) a request will reach, so this does not
pretend to be exact: about four characters per token over every string in `system`, `messages` and
`tools`, a flat IMAGE_TOKENS per image or document, and a few tokens of framing per message.
"""

from __future__ import annotations

from typing import Any

CHARS_PER_TOKEN = 4
IMAGE_TOKENS = 1600  # Anthropic's own rule of thumb for a ~1.15 megapixel image
TOKENS_PER_MESSAGE = 4


def estimate_input_tokens(body: dict[str, Any]) -> int:
    messages = body.get("messages") if isinstance(body.get("messages"), list) else []
    chars, media = _walk([body.get("system"), messages, body.get("tools")])
    return max(1, -(-chars // CHARS_PER_TOKEN) + media * IMAGE_TOKENS + TOKENS_PER_MESSAGE * len(messages))


def _walk(value: Any) -> tuple[int, int]:
    """(characters of text, number of images/documents) in a JSON value; keys are not counted."""
    if isinstance(value, str):
        return len(value), 0
    if isinstance(value, list):
        totals = [_walk(item) for item in value]
        return sum(t[0] for t in totals), sum(t[1] for t in totals)
    if isinstance(value, dict):
        if value.get("type") in ("image", "document") and isinstance(value.get("source"), dict):
            return 0, 1
        totals = [_walk(item) for key, item in value.items() if key not in ("type", "id", "tool_use_id", "role")]
        return sum(t[0] for t in totals), sum(t[1] for t in totals)
    return 0, 0
