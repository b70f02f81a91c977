"""Ollama's native API (`kind: ollama`): `/api/chat` with NDJSON streaming."""

from __future__ import annotations

from providers.ollama.provider import OllamaProvider

__all__ = ["OllamaProvider"]
