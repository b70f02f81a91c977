"""Parsers for the published benchmark and catalogue formats: bytes in, records out, no I/O.

`PARSERS[kind](body, url=..., fetched_at=...)` returns a `Parsed` list (records plus the rows it
skipped) or raises `SourceFormatError`. `EXTRA_DOCUMENTS[kind]` names further bodies a kind needs as
keyword arguments (LiveBench needs its `categories` JSON next to the table). `METRICS` describes every
metric a parser can emit (family, label and unit for explanations).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from research.sources import aider, arena_hard, livebench, lmarena, open_llm, openrouter, swebench
from research.sources.records import (
    COST,
    FAMILIES,
    WEIGHT_FAMILIES,
    CatalogueEntry,
    MetricInfo,
    MetricRecord,
    Parsed,
    SourceFormatError,
)

PARSERS: dict[str, Callable[..., Parsed[Any]]] = {
    "aider": aider.parse,
    "lmarena": lmarena.parse,
    "lmarena_style_control": lmarena.parse_style_control,
    "livebench": livebench.parse,
    "swebench": swebench.parse,
    "arena_hard": arena_hard.parse,
    "open_llm": open_llm.parse,
    "openrouter": openrouter.parse,
    "openrouter_benchmarks": openrouter.parse_benchmarks,
}
CATALOGUE_KINDS = frozenset({"openrouter"})
EXTRA_DOCUMENTS: dict[str, tuple[str, ...]] = {"livebench": ("categories",)}

METRICS: dict[str, MetricInfo] = {
    **aider.METRICS,
    **lmarena.METRICS,
    **livebench.METRICS,
    **swebench.METRICS,
    **arena_hard.METRICS,
    **open_llm.METRICS,
    **openrouter.METRICS,
}


def metric_info(metric: str) -> MetricInfo | None:
    return METRICS.get(metric)


__all__ = [
    "CATALOGUE_KINDS",
    "COST",
    "EXTRA_DOCUMENTS",
    "FAMILIES",
    "METRICS",
    "PARSERS",
    "WEIGHT_FAMILIES",
    "CatalogueEntry",
    "MetricInfo",
    "MetricRecord",
    "Parsed",
    "SourceFormatError",
    "metric_info",
]
