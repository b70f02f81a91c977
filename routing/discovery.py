"""Model discovery: read a provider's catalogue and add the models the gateway does not know yet.

New rows are `<provider>/<upstream id>`, DISABLED until an operator enables them; existing rows
(same public id, or a row of this provider with the same upstream name) are never touched. Sync, with
a short-lived httpx client of its own: called from the admin and a management command, never from
the event loop.

Catalogues: OpenAI-compatible `GET {base}/models` (OpenRouter's `pricing` per token and
`context_length` are used), Ollama `GET /api/tags`, Anthropic `GET /v1/models`, Gemini
`GET /v1beta/models` (only models that support generateContent). Vertex AI has none here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
import orjson
from django.db import transaction

from routing.models import Model, Provider
from routing.providers.ollama.provider import ollama_root
from routing.selectors import provider_spec
from routing.services import config_changed
from routing.snapshot import ProviderSpec

TIMEOUT = httpx.Timeout(20.0, connect=5.0)
MAX_CATALOGUE_BYTES = 32 * 1024 * 1024
MAX_PAGES = 20
PUBLIC_ID_MAX = 200
ANTHROPIC_VERSION = "2023-06-01"
# Plain OpenAI-style catalogues list every model family; these never answer chat completions.
NOT_CHAT = ("embed", "whisper", "tts", "dall-e", "moderation", "transcribe")
_VERSIONED = re.compile(r"/v1(alpha|beta|beta1)?$")
_MILLION = Decimal(1_000_000)
_PRICE_STEP = Decimal("0.000001")


class DiscoveryError(Exception):
    """The catalogue could not be read; the message says why (never the key)."""


@dataclass(frozen=True, slots=True)
class FoundModel:
    upstream_name: str
    context_window: int = 0
    input_price_per_mtok: Decimal = Decimal(0)
    output_price_per_mtok: Decimal = Decimal(0)
    supports_tools: bool | None = None  # None: the catalogue does not say; the row keeps its default
    supports_vision: bool | None = None
    supports_json: bool | None = None


@dataclass(slots=True)
class DiscoveryResult:
    provider: str
    found: list[FoundModel] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # public ids of the rows created (disabled)

    @property
    def known(self) -> int:
        return len(self.found) - len(self.added)

    def summary(self, limit: int | None = None) -> str:
        """One line for an operator; `limit` caps how many added ids are named."""
        shown = self.added if limit is None else self.added[:limit]
        more = f" and {len(self.added) - len(shown)} more" if len(shown) < len(self.added) else ""
        added = f": {', '.join(shown)}{more}" if self.added else ""
        return (f"{self.provider}: {len(self.found)} model(s) in the catalogue, {len(self.added)} added "
                f"(disabled until you enable them){added}; {self.known} already known or skipped.")


def discover_models(provider: Provider, *, transport: httpx.BaseTransport | None = None) -> DiscoveryResult:
    """Read the provider's catalogue and create rows for new models. Raises DiscoveryError."""
    found = fetch_catalogue(provider_spec(provider), transport=transport)
    return DiscoveryResult(provider.name, found, models_create_discovered(provider=provider, found=found))


def fetch_catalogue(spec: ProviderSpec, *, transport: httpx.BaseTransport | None = None) -> list[FoundModel]:
    """The chat models the provider lists. Raises DiscoveryError."""
    fetchers: dict[str, Callable[[ProviderSpec, httpx.Client], list[FoundModel]]] = {
        "openai_compatible": _openai_compatible, "ollama": _ollama, "anthropic": _anthropic, "gemini": _gemini,
    }
    fetch = fetchers.get(spec.kind)
    if fetch is None:
        raise DiscoveryError(f"{spec.name}: providers of kind '{spec.kind}' have no model catalogue to read.")
    with httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False, transport=transport) as client:
        try:
            return fetch(spec, client)
        except httpx.HTTPError as exc:
            raise DiscoveryError(f"{spec.name}: could not read the catalogue ({type(exc).__name__}).") from None
        except DiscoveryError as exc:
            raise DiscoveryError(f"{spec.name}: {exc}") from None


def models_create_discovered(*, provider: Provider, found: list[FoundModel]) -> list[str]:
    """Create disabled rows for models not known yet; returns their public ids. Existing rows stay as they are."""
    candidates = {f"{provider.name}/{model.upstream_name}": model for model in found}
    with transaction.atomic():
        taken = set(Model.objects.filter(public_id__in=list(candidates)).values_list("public_id", flat=True))
        known_upstream = set(Model.objects.filter(provider=provider).values_list("upstream_name", flat=True))
        rows = []
        for public_id, model in candidates.items():
            if public_id in taken or model.upstream_name in known_upstream or len(public_id) > PUBLIC_ID_MAX:
                continue
            flags = {name: value for name, value in (("supports_tools", model.supports_tools),
                                                     ("supports_vision", model.supports_vision),
                                                     ("supports_json", model.supports_json)) if value is not None}
            rows.append(Model(
                public_id=public_id, provider=provider, upstream_name=model.upstream_name,
                context_window=model.context_window, input_price_per_mtok=model.input_price_per_mtok,
                output_price_per_mtok=model.output_price_per_mtok, enabled=False, **flags,
            ))
        Model.objects.bulk_create(rows)
        if rows:
            config_changed()  # bulk_create sends no post_save signal
    return [row.public_id for row in rows]


# --- one reader per catalogue -------------------------------------------------------------------------

def _openai_compatible(spec: ProviderSpec, client: httpx.Client) -> list[FoundModel]:
    headers = {"authorization": f"Bearer {spec.api_key}"} if spec.api_key else {}
    return parse_openai_models(_get_json(spec, client, f"{spec.base_url}/models", headers))


def _ollama(spec: ProviderSpec, client: httpx.Client) -> list[FoundModel]:
    headers = {"authorization": f"Bearer {spec.api_key}"} if spec.api_key else {}
    return parse_ollama_tags(_get_json(spec, client, f"{ollama_root(spec.base_url)}/api/tags", headers))


def _anthropic(spec: ProviderSpec, client: httpx.Client) -> list[FoundModel]:
    base = spec.base_url if spec.base_url.endswith("/v1") else f"{spec.base_url}/v1"
    headers = {"anthropic-version": ANTHROPIC_VERSION, **({"x-api-key": spec.api_key} if spec.api_key else {})}
    found: list[FoundModel] = []
    params: dict[str, str] = {"limit": "1000"}
    for _ in range(MAX_PAGES):
        data = _get_json(spec, client, f"{base}/models", headers, params)
        found += parse_anthropic_models(data)
        if not (isinstance(data, dict) and data.get("has_more") and data.get("last_id")):
            break
        params = {"limit": "1000", "after_id": str(data["last_id"])}
    return found


def _gemini(spec: ProviderSpec, client: httpx.Client) -> list[FoundModel]:
    base = spec.base_url if _VERSIONED.search(spec.base_url) else f"{spec.base_url}/v1beta"
    headers = {"x-goog-api-key": spec.api_key} if spec.api_key else {}
    found: list[FoundModel] = []
    params: dict[str, str] = {"pageSize": "1000"}
    for _ in range(MAX_PAGES):
        data = _get_json(spec, client, f"{base}/models", headers, params)
        found += parse_gemini_models(data)
        token = data.get("nextPageToken") if isinstance(data, dict) else None
        if not token:
            break
        params = {"pageSize": "1000", "pageToken": str(token)}
    return found


def _get_json(spec: ProviderSpec, client: httpx.Client, url: str, headers: dict[str, str],
              params: dict[str, str] | None = None) -> Any:
    with client.stream("GET", url, headers={"accept": "application/json", **headers}, params=params) as response:
        parts, size = [], 0
        for part in response.iter_bytes():
            parts.append(part)
            size += len(part)
            if size > MAX_CATALOGUE_BYTES:
                raise DiscoveryError(f"the catalogue is larger than {MAX_CATALOGUE_BYTES} bytes.")
    raw = b"".join(parts)
    if response.status_code != 200:
        text = raw[:300].decode("utf-8", "replace").strip()
        if spec.api_key:
            text = text.replace(spec.api_key, "[redacted]")
        raise DiscoveryError(f"GET {response.request.url.copy_with(query=None)} answered "
                             f"{response.status_code}: {text}")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise DiscoveryError("the catalogue is not valid JSON.") from None


# --- parsers (pure) -----------------------------------------------------------------------------------

def parse_openai_models(data: Any) -> list[FoundModel]:
    """`{"data": [{"id", ...}]}`; OpenRouter adds `context_length`, `pricing`, `architecture`, parameters."""
    found = []
    for entry in _entries(data, "data"):
        model_id = entry.get("id")
        if not isinstance(model_id, str) or not model_id:
            continue
        architecture = entry.get("architecture") if isinstance(entry.get("architecture"), dict) else {}
        outputs = architecture.get("output_modalities")
        if isinstance(outputs, list) and "text" not in outputs:
            continue
        if not architecture and any(marker in model_id.lower() for marker in NOT_CHAT):
            continue
        pricing = entry.get("pricing") if isinstance(entry.get("pricing"), dict) else {}
        inputs = architecture.get("input_modalities")
        parameters = entry.get("supported_parameters")
        found.append(FoundModel(
            upstream_name=model_id,
            context_window=_positive_int(entry.get("context_length")),
            input_price_per_mtok=_per_million(pricing.get("prompt")),
            output_price_per_mtok=_per_million(pricing.get("completion")),
            supports_vision=("image" in inputs) if isinstance(inputs, list) else None,
            supports_tools=("tools" in parameters) if isinstance(parameters, list) else None,
            supports_json=bool({"response_format", "structured_outputs"} & set(parameters))
            if isinstance(parameters, list) else None,
        ))
    return found


def parse_ollama_tags(data: Any) -> list[FoundModel]:
    """`{"models": [{"name": "llama3.2:latest", ...}]}`."""
    return [FoundModel(upstream_name=entry["name"]) for entry in _entries(data, "models")
            if isinstance(entry.get("name"), str) and entry["name"]]


def parse_anthropic_models(data: Any) -> list[FoundModel]:
    """`{"data": [{"id", "display_name", ...}], "has_more", "last_id"}`."""
    return [FoundModel(upstream_name=entry["id"], context_window=_positive_int(entry.get("max_input_tokens")))
            for entry in _entries(data, "data") if isinstance(entry.get("id"), str) and entry["id"]]


def parse_gemini_models(data: Any) -> list[FoundModel]:
    """`{"models": [{"name": "models/...", "inputTokenLimit", "supportedGenerationMethods"}], "nextPageToken"}`."""
    found = []
    for entry in _entries(data, "models"):
        name = entry.get("name")
        methods = entry.get("supportedGenerationMethods")
        if not isinstance(name, str) or not isinstance(methods, list) or "generateContent" not in methods:
            continue
        found.append(FoundModel(upstream_name=name.removeprefix("models/"),
                                context_window=_positive_int(entry.get("inputTokenLimit"))))
    return found


def _entries(data: Any, key: str) -> Iterator[dict]:
    entries = data.get(key) if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise DiscoveryError(f"the catalogue has no '{key}' list.")
    return (entry for entry in entries if isinstance(entry, dict))


def _positive_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _per_million(value: Any) -> Decimal:
    """A price per token (OpenRouter sends strings) as $ per 1M tokens; unknown or negative ('-1') → 0."""
    try:
        price = Decimal(str(value)) if value is not None else Decimal(0)
    except InvalidOperation:
        return Decimal(0)
    if not price.is_finite() or price <= 0:
        return Decimal(0)
    return (price * _MILLION).quantize(_PRICE_STEP)
