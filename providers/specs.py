"""What a provider needs to call an upstream: the provider's connection and a model's upstream identity.

Plain frozen values built from the routing configuration; providers never read the ORM.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Anthropic bills 5-minute prompt-cache writes at 1.25x the base input price (1-hour writes: 2x); providers
# that report no cache writes are unaffected.
CACHE_WRITE_MULTIPLIER = 1.25


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
    monthly_token_quota: int = 0  # tokens per calendar month (UTC); 0: no quota

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
    cached_input_price_per_token: float | None = None  # None: the input price
    cache_write_price_per_token: float | None = None  # None: CACHE_WRITE_MULTIPLIER x the input price
    supports_tools: bool = True
    supports_vision: bool = False
    supports_json: bool = True
    enabled: bool = True
    kind: str = "chat"  # chat | embedding (routing.models.Model.Kind)
    fallbacks: tuple[str, ...] = ()
    created: int = 0  # unix seconds, shown by /v1/models

    def cost(self, prompt_tokens: int, completion_tokens: int, *, cached_tokens: int = 0,
             cache_creation_tokens: int = 0) -> float:
        """Dollars for a request. `prompt_tokens` includes the cached and cache-written ones, which are priced
        apart; reasoning tokens are part of `completion_tokens` and priced as output."""
        cached = min(cached_tokens, prompt_tokens)
        written = min(cache_creation_tokens, prompt_tokens - cached)
        cached_price = self.input_price_per_token if self.cached_input_price_per_token is None \
            else self.cached_input_price_per_token
        write_price = self.input_price_per_token * CACHE_WRITE_MULTIPLIER if self.cache_write_price_per_token is None \
            else self.cache_write_price_per_token
        return ((prompt_tokens - cached - written) * self.input_price_per_token + cached * cached_price
                + written * write_price + completion_tokens * self.output_price_per_token)
