"""Google's Gemini models: the Gemini API (`kind: gemini`) and Vertex AI (`kind: vertex`)."""

from __future__ import annotations

from providers.google.provider import GeminiProvider, VertexProvider

__all__ = ["GeminiProvider", "VertexProvider"]
