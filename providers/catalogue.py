"""Each provider kind's model catalogue: fetch it (sync httpx, short-lived client) and parse it (pure).

Catalogues: OpenAI-compatible `GET {base}/models` (OpenRouter's `pricing` per token and
`context_length` are used), Ollama `GET /api/tags`, Anthropic `GET /v1/models`, Gemini
`GET /v1beta/models` (only models that support generateContent). Vertex AI has none here. Each
provider class names its reader (`Provider.read_catalogue`): the kind registry stays the one in
`providers/__init__.py`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import orjson

from providers.specs import ProviderSpec

if TYPE_CHECKING:  # httpx is imported when a catalogue is read, not when the gateway starts
    import httpx

TIMEOUT_SECONDS, CONNECT_TIMEOUT_SECONDS = 20.0, 5.0
MAX_CATALOGUE_BYTES = 32 * 1024 * 1024
MAX_PAGES = 20
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


def fetch_catalogue(spec: ProviderSpec, *, transport: httpx.BaseTransport | None = None) -> list[FoundModel]:
    """The chat models the provider lists. Raises DiscoveryError."""
    from providers import PROVIDER_CLASSES

    provider_class = PROVIDER_CLASSES.get(spec.kind)
    fetch = provider_class.read_catalogue if provider_class is not None else None
    if fetch is None:
        raise DiscoveryError(f"{spec.name}: providers of kind '{spec.kind}' have no model catalogue to read.")
    import httpx

    timeout = httpx.Timeout(TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS)
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False, transport=transport) as client:
        try:
            return fetch(spec, client)
        except httpx.HTTPError as exc:
            raise DiscoveryError(f"{spec.name}: could not read the catalogue ({type(exc).__name__}).") from None
        except DiscoveryError as exc:
            raise DiscoveryError(f"{spec.name}: {exc}") from None


# --- one reader per catalogue ----------------------------------------------------------------------

def read_openai_models(spec: ProviderSpec, client: httpx.Client) -> list[FoundModel]:
    headers = {"authorization": f"Bearer {spec.api_key}"} if spec.api_key else {}
    return parse_openai_models(_get_json(spec, client, f"{spec.base_url}/models", headers))


def read_ollama_tags(spec: ProviderSpec, client: httpx.Client) -> list[FoundModel]:
    from providers.ollama.provider import ollama_root

    headers = {"authorization": f"Bearer {spec.api_key}"} if spec.api_key else {}
    return parse_ollama_tags(_get_json(spec, client, f"{ollama_root(spec.base_url)}/api/tags", headers))


def read_anthropic_models(spec: ProviderSpec, client: httpx.Client) -> list[FoundModel]:
    from providers.anthropic.provider import ANTHROPIC_VERSION as anthropic_version

    base = spec.base_url if spec.base_url.endswith("/v1") else f"{spec.base_url}/v1"
    headers = {"anthropic-version": anthropic_version, **({"x-api-key": spec.api_key} if spec.api_key else {})}
    found: list[FoundModel] = []
    params: dict[str, str] = {"limit": "1000"}
    for _ in range(MAX_PAGES):
        data = _get_json(spec, client, f"{base}/models", headers, params)
        found += parse_anthropic_models(data)
        if not (isinstance(data, dict) and data.get("has_more") and data.get("last_id")):
            break
        params = {"limit": "1000", "after_id": str(data["last_id"])}
    return found


def read_gemini_models(spec: ProviderSpec, client: httpx.Client) -> list[FoundModel]:
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
