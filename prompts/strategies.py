"""The strategy block a role adds to a request, and where it goes. Pure, and byte-stable by construction.

A strategy is rendered once per snapshot into one system message; every request in that role gets the very same
bytes in the same place (after the client's system messages, or before them with `prepend`), so the providers'
prompt caches (Anthropic `cache_control` prefixes, OpenAI's automatic prefix caching) keep hitting. The client's
own messages are never changed, dropped or reordered: the block is one added message, clearly delimited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

APPEND, PREPEND, OFF = "append", "prepend", "off"
PLACEMENTS = (APPEND, PREPEND, OFF)
SYSTEM_ROLES = frozenset({"system", "developer"})


@dataclass(frozen=True, slots=True)
class Strategy:
    role: str
    placement: str
    message: dict  # {"role": "system", "content": <the block>}: shared, never mutated


def render_block(role: str, system_prompt: str, techniques: Sequence[str], constraints: Sequence[str],
                 examples: Sequence[dict]) -> str:
    """The strategy as one delimited text block; the same inputs always give the same text."""
    parts = [f'<gateway-strategy role="{role}">', system_prompt.strip()]
    if techniques:
        parts.append("Techniques:\n" + "\n".join(f"- {item}" for item in techniques))
    if constraints:
        parts.append("Constraints:\n" + "\n".join(f"- {item}" for item in constraints))
    for index, example in enumerate(examples, 1):
        if isinstance(example, dict) and example.get("input") and example.get("output"):
            parts.append(f"Example {index}:\nRequest: {str(example['input']).strip()}\n"
                         f"Answer:\n{str(example['output']).strip()}")
    parts.append("</gateway-strategy>")
    return "\n\n".join(parts)


def strategy(role: str, placement: str, block: str) -> Strategy:
    return Strategy(role, placement, {"role": "system", "content": block})


def leading_system_count(messages: Sequence[object]) -> int:
    count = 0
    for message in messages:
        if not (isinstance(message, dict) and message.get("role") in SYSTEM_ROLES):
            break
        count += 1
    return count


def with_strategy(body: dict, item: Strategy) -> dict:
    """A new body with the strategy's message inserted (the input body and its messages are left untouched)."""
    messages = body["messages"]
    at = 0 if item.placement == PREPEND else leading_system_count(messages)
    return {**body, "messages": [*messages[:at], item.message, *messages[at:]]}
