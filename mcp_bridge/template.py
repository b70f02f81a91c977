"""The arguments of an MCP tool call, from the server's template and the request. Pure.

Placeholders are `{name}` inside JSON strings; `{{` and `}}` are literal braces. Only the names in
`FIELDS` exist, so a typo is refused when the template is saved, not discovered on a request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

FIELDS = ("task", "conversation_id", "role", "profile", "model")
DEFAULT_TEMPLATE = {"query": "{task}"}
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


class TemplateError(ValueError):
    pass


def _names(text: str) -> list[str]:
    return [match.group(1) for match in _PLACEHOLDER.finditer(text) if match.group(1)]


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def check_template(template: Any) -> None:
    """Raises TemplateError unless `template` is a JSON object whose placeholders all exist."""
    if not isinstance(template, Mapping):
        raise TemplateError('The argument template is a JSON object, e.g. {"query": "{task}"}.')
    for text in _strings(template):
        unknown = [name for name in _names(text) if name not in FIELDS]
        if unknown:
            raise TemplateError(f"Unknown placeholder {{{unknown[0]}}}; the placeholders are "
                                + ", ".join(f"{{{name}}}" for name in FIELDS) + ".")


def uses(template: Any, name: str) -> bool:
    return any(name in _names(text) for text in _strings(template))


def _fill(text: str, values: Mapping[str, str]) -> str:
    def replace(match: re.Match) -> str:
        whole = match.group(0)
        if whole == "{{":
            return "{"
        if whole == "}}":
            return "}"
        return values.get(match.group(1), "")

    return _PLACEHOLDER.sub(replace, text)


def render(template: Any, values: Mapping[str, str]) -> Any:
    """The template with every placeholder in its strings (keys included) replaced by its value."""
    if isinstance(template, str):
        return _fill(template, values)
    if isinstance(template, Mapping):
        return {_fill(key, values) if isinstance(key, str) else key: render(item, values)
                for key, item in template.items()}
    if isinstance(template, list):
        return [render(item, values) for item in template]
    return template
