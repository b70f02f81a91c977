"""Anthropic's Messages API as a provider: OpenAI requests in, Anthropic on the wire, OpenAI answers out."""

from __future__ import annotations

from providers.anthropic.provider import AnthropicProvider

__all__ = ["AnthropicProvider"]
