"""The context block the gateway adds to a request: one system message, clearly delimited, byte-stable."""

from __future__ import annotations

from collections.abc import Sequence

from context.search import Hit

SIMILAR_KIND = "similar-interactions"
SNIPPET_CHARS = 600  # of each prompt and answer shown
_TAGS = ("gateway-context", "interaction", "user", "assistant")


def _neutral(text: str) -> str:
    """Past text cannot close or open the block's own tags."""
    for tag in _TAGS:
        if tag in text:
            text = text.replace(f"</{tag}", f"<\\/{tag}").replace(f"<{tag}", f"<\\{tag}")
    return text


def _snippet(text: str) -> str:
    text = text.strip()
    return _neutral(text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS].rstrip() + " …")


def similar_block(hits: Sequence[Hit]) -> dict | None:
    """A system message with the past interactions, most relevant first; None without any.

    The same hits always give the same bytes (no scores, dates to the day), so a conversation that keeps
    its block keeps the providers' prompt caches warm.
    """
    if not hits:
        return None
    parts = [f'<gateway-context kind="{SIMILAR_KIND}">',
             "Earlier exchanges from other conversations that may be relevant, most relevant first. "
             "Use them only where they help with the current request."]
    for hit in hits:
        day = hit.created_at.date().isoformat() if hasattr(hit.created_at, "date") else str(hit.created_at)[:10]
        parts.append(f'<interaction date="{day}">\n<user>{_snippet(hit.prompt)}</user>\n'
                     f"<assistant>{_snippet(hit.answer)}</assistant>\n</interaction>")
    parts.append("</gateway-context>")
    return {"role": "system", "content": "\n".join(parts)}
