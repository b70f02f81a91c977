"""OpenRouter model catalogue (`GET https://openrouter.ai/api/v1/models`).

Shape: `{"data": [{id, canonical_slug?, name, context_length, architecture{input_modalities,...},
pricing{prompt, completion, ...} (USD per token, as strings), top_provider{max_completion_tokens},
supported_parameters, created, knowledge_cutoff?, benchmarks?}]}`. Older answers (2025-04) have no
`canonical_slug`, `benchmarks` or `knowledge_cutoff`; both schemas are read.

`parse` gives `CatalogueEntry`s. `parse_benchmarks` gives the Artificial Analysis indices the catalogue
now embeds (`benchmarks.artificial_analysis`) as metric records: intelligence_index → reasoning,
coding_index and agentic_index → coding.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from research.sources import _io
from research.sources.records import CatalogueEntry, MetricInfo, MetricRecord, Parsed, RowLog, SourceFormatError

SOURCE = "openrouter"
BENCHMARK_SOURCE = "artificial_analysis"
# Routing/tier variants of the same weights: dropped from the identity. `:thinking` is not among them.
TIER_SUFFIXES = frozenset({"free", "beta", "nitro", "floor", "extended"})
METRICS: dict[str, MetricInfo] = {
    "aa_intelligence_index": MetricInfo("reasoning", "Artificial Analysis intelligence index", ""),
    "aa_coding_index": MetricInfo("coding", "Artificial Analysis coding index", ""),
    "aa_agentic_index": MetricInfo("coding", "Artificial Analysis agentic index", ""),
}


def identity_of(model_id: str, canonical_slug: str | None = None) -> str:
    """The identity a catalogue row stands for: canonical slug (else id) without a tier suffix."""
    base = canonical_slug.strip() if isinstance(canonical_slug, str) and canonical_slug.strip() else model_id
    head, sep, suffix = base.rpartition(":")
    return head if sep and suffix in TIER_SUFFIXES else base


def parse(body: bytes, *, url: str, fetched_at: date) -> Parsed[CatalogueEntry]:
    """Catalogue entries; raises SourceFormatError without a non-empty `data` list."""
    log = RowLog(SOURCE)
    entries = [entry for entry in (_entry(item, url, fetched_at, log) for item in _models(body)) if entry]
    return log.finish(entries)


def parse_benchmarks(body: bytes, *, url: str, fetched_at: date) -> Parsed[MetricRecord]:
    """AA index records per model that has them; raises SourceFormatError when no model carries any."""
    log = RowLog(BENCHMARK_SOURCE)
    records: list[MetricRecord] = []
    for item in _models(body):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        benchmarks = item.get("benchmarks")
        indices = benchmarks.get("artificial_analysis") if isinstance(benchmarks, dict) else None
        if not isinstance(indices, dict):
            continue
        for metric, info in METRICS.items():
            raw = indices.get(metric.removeprefix("aa_"))
            value = _io.number(raw)
            if value is None:
                if raw is not None:  # null means "not measured"; anything else unreadable is malformed
                    log.bad(f"{item['id']}/{metric}", f"value is {raw!r}")
                continue
            records.append(
                MetricRecord(item["id"], metric, info.family, value, True, BENCHMARK_SOURCE, fetched_at, url)
            )
    return log.finish(records)


def _models(body: bytes) -> list[object]:
    data = _io.load_json(body, SOURCE)
    models = data.get("data") if isinstance(data, dict) else None
    if not isinstance(models, list):
        raise SourceFormatError(SOURCE, "expected an object with a 'data' list of models")
    if not models:
        raise SourceFormatError(SOURCE, "empty 'data' list")
    return models


def _entry(item: object, url: str, fetched_at: date, log: RowLog) -> CatalogueEntry | None:
    if not isinstance(item, dict):
        log.bad("?", "model is not an object")
        return None
    model_id = item.get("id")
    if not isinstance(model_id, str) or not model_id.strip():
        log.bad(item.get("name", "?"), "no id")
        return None
    pricing = item.get("pricing") if isinstance(item.get("pricing"), dict) else {}
    prompt, completion = _price(pricing.get("prompt")), _price(pricing.get("completion"))
    architecture = item.get("architecture") if isinstance(item.get("architecture"), dict) else {}
    top = item.get("top_provider") if isinstance(item.get("top_provider"), dict) else {}
    created = _io.number(item.get("created"))
    return CatalogueEntry(
        identity=identity_of(model_id, item.get("canonical_slug")),
        id=model_id,
        name=str(item.get("name") or model_id),
        context_window=_int(item.get("context_length")),
        input_price_per_token=prompt,
        output_price_per_token=completion,
        modalities=_strings(architecture.get("input_modalities")),
        free=model_id.endswith(":free") or (prompt == 0 and completion == 0),
        output_modalities=_strings(architecture.get("output_modalities")),
        max_completion_tokens=_int(top.get("max_completion_tokens")),
        supported_parameters=_strings(item.get("supported_parameters")),
        created=datetime.fromtimestamp(created, UTC).date() if created else None,
        knowledge_cutoff=item.get("knowledge_cutoff") if isinstance(item.get("knowledge_cutoff"), str) else None,
        source_url=url,
        as_of=fetched_at,
    )


def _price(value: object) -> float | None:
    number = _io.number(value)
    return number if number is not None and number >= 0 else None  # -1 means "varies" (routers)


def _int(value: object) -> int | None:
    number = _io.number(value)
    return int(number) if number is not None and number > 0 else None


def _strings(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()
