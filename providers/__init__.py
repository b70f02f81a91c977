"""The provider registry: one class per wire protocol, looked up by a provider row's `kind`."""

from __future__ import annotations

from providers.anthropic import AnthropicProvider
from providers.base import Provider, ProviderError
from providers.clients import clients
from providers.google import GeminiProvider, VertexProvider
from providers.ollama import OllamaProvider
from providers.openai_compat import OpenAICompatibleProvider
from providers.specs import ProviderSpec

PROVIDER_CLASSES: dict[str, type[Provider]] = {
    OpenAICompatibleProvider.kind: OpenAICompatibleProvider,
    AnthropicProvider.kind: AnthropicProvider,
    GeminiProvider.kind: GeminiProvider,
    VertexProvider.kind: VertexProvider,
    OllamaProvider.kind: OllamaProvider,
}


def supported_kinds() -> frozenset[str]:
    return frozenset(PROVIDER_CLASSES)


def provider_for(spec: ProviderSpec) -> Provider:
    """The provider object for a spec, on the shared pooled client of the running event loop."""
    cls = PROVIDER_CLASSES.get(spec.kind)
    if cls is None:
        raise ProviderError(
            f"Provider '{spec.name}' has kind '{spec.kind}', which this gateway version cannot call yet.",
            retryable=True, status=400, code="provider_kind_unsupported",
        )
    return cls(spec, clients.get(spec))


__all__ = ["Provider", "ProviderError", "provider_for", "supported_kinds"]
