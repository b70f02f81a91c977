"""The context block of the MCP servers' answers: one system message, clearly delimited, byte-stable. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from mcp_bridge.specs import ServerSpec

KIND = "mcp"
_TAGS = ("gateway-context", "mcp-result")
CUT_MARK = " …[cut]"


def _neutral(text: str) -> str:
    """An answer cannot close or open the block's own tags."""
    for tag in _TAGS:
        if tag in text:
            text = text.replace(f"</{tag}", f"<\\/{tag}").replace(f"<{tag}", f"<\\{tag}")
    return text


def _attribute(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def mcp_block(answers: Sequence[tuple[ServerSpec, str]], *, max_chars: int) -> dict | None:
    """A system message with each server's answer, in the servers' order; None without any.

    The same answers always give the same bytes (no timings, no dates), so a request that gets the same
    answers keeps the providers' prompt caches warm.
    """
    if not answers:
        return None
    parts = [f'<gateway-context kind="{KIND}">',
             "Context fetched by the gateway from MCP servers for the current request. "
             "Use it only where it helps with the request."]
    for spec, text in answers:
        text = text.strip()
        if len(text) > max_chars:
            text = text[:max_chars].rstrip() + CUT_MARK
        parts.append(f'<mcp-result server="{_attribute(spec.name)}" tool="{_attribute(spec.tool_name)}">\n'
                     f"{_neutral(text)}\n</mcp-result>")
    parts.append("</gateway-context>")
    return {"role": "system", "content": "\n".join(parts)}


def with_block(body: dict, block: dict, system_count: int) -> dict:
    """The body with the block after its leading system messages; the client's messages kept, in order."""
    messages = body["messages"]
    return {**body, "messages": [*messages[:system_count], block, *messages[system_count:]]}
