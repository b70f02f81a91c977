"""What a provider needs to call an upstream: the provider's connection and a model's upstream identity.

Plain frozen values built from the routing configuration; providers never read the ORM.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    name: str
    kind: str
    base_url: str
    tier: str
    timeout_seconds: float
    enabled: bool
    key_env: str  # the variable an operator must set; empty when the provider needs no key
    api_key: str | None = field(default=None, repr=False)

    @property
    def needs_key(self) -> bool:
        return bool(self.key_env)

    @property
    def has_key(self) -> bool:
        return bool(self.api_key) or not self.needs_key


@dataclass(frozen=True, slots=True)
class ModelSpec:
    public_id: str
    provider: str
    upstream_name: str
    context_window: int = 0
    input_price_per_token: float = 0.0
    output_price_per_token: float = 0.0
    supports_tools: bool = True
    supports_vision: bool = False
    supports_json: bool = True
    enabled: bool = True
    kind: str = "chat"  # chat | embedding (routing.models.Model.Kind)
    fallbacks: tuple[str, ...] = ()
    created: int = 0  # unix seconds, shown by /v1/models

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return prompt_tokens * self.input_price_per_token + completion_tokens * self.output_price_per_token
