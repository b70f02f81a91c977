"""What every source parser produces, and the one error they raise.

Parsers turn a fetched body into `MetricRecord`s (leaderboards) or `CatalogueEntry`s (catalogues).
Both are frozen and plain so the Django side can store them and tests can compare them by value.
A parser never lets a `KeyError`/`ValueError` escape for a bad body: the whole body is rejected with
`SourceFormatError` (saying what was wrong), while single bad rows are skipped and listed on the
returned `Parsed` list, so a run can report "3 malformed rows in LiveBench" instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Generic, TypeVar

# The metric families role weights are written in. `cost` is not published by leaderboards: scoring
# derives it from catalogue prices, but it is a family of its own in the weights file.
FAMILIES: tuple[str, ...] = (
    "coding",
    "reasoning",
    "instruction_following",
    "writing",
    "long_context",
    "math",
    "speed",
    "general_chat",
)
COST = "cost"
WEIGHT_FAMILIES: tuple[str, ...] = (*FAMILIES, COST)


class SourceFormatError(Exception):
    """The body is not the published format: an HTML error page, empty, a missing column, a changed schema.

    Retrying the same URL will not help unless the publisher fixes it; the message says what was seen.
    """

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.detail = message


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """How to read a metric: the family it feeds, its direction, and how to print it in a reason."""

    family: str
    label: str
    unit: str  # "%", "Elo", "s", "" — used to format numbers in ranking reasons
    higher_is_better: bool = True


@dataclass(frozen=True, slots=True)
class MetricRecord:
    """One published number for one model, as the publisher named the model."""

    model_name: str
    metric: str
    family: str
    value: float
    higher_is_better: bool
    source: str
    as_of: date | None
    url: str


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """One model a catalogue (OpenRouter `/api/v1/models`) says can be called, with its price.

    `identity` is the model's stable name across routing variants: OpenRouter's `canonical_slug` when
    published, else the id; tier suffixes (`:free`, `:beta`, ...) are dropped from it because they are
    the same weights, while `:thinking` stays (a distinct variant). Prices are USD per token; None when
    the catalogue does not say (or says -1, OpenRouter's "varies" for routers).
    """

    identity: str
    id: str
    name: str
    context_window: int | None
    input_price_per_token: float | None
    output_price_per_token: float | None
    modalities: tuple[str, ...]
    free: bool
    output_modalities: tuple[str, ...] = ()
    max_completion_tokens: int | None = None
    supported_parameters: tuple[str, ...] = ()
    created: date | None = None
    knowledge_cutoff: str | None = None
    source_url: str = ""
    as_of: date | None = None


T = TypeVar("T")


class Parsed(list[T], Generic[T]):
    """A parser's records, plus the rows it left out and why.

    `malformed` lists rows that were broken (missing or non-numeric value); `ignored` lists rows that
    were fine but out of scope (a system combining two models, a flagged submission).
    """

    def __init__(
        self, items: list[T] | None = None, *, malformed: list[str] | None = None, ignored: list[str] | None = None
    ) -> None:
        super().__init__(items or [])
        self.malformed: list[str] = malformed or []
        self.ignored: list[str] = ignored or []


@dataclass(slots=True)
class RowLog:
    """Collects skipped rows while a parser runs; `finish` checks the body gave something usable."""

    source: str
    malformed: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def bad(self, row: object, reason: str) -> None:
        self.malformed.append(f"{row}: {reason}")

    def skip(self, row: object, reason: str) -> None:
        self.ignored.append(f"{row}: {reason}")

    def finish(self, items: list[T]) -> Parsed[T]:
        """Raises SourceFormatError when no row was usable although rows were present."""
        if not items:
            if self.malformed:
                raise SourceFormatError(
                    self.source,
                    f"no usable rows; {len(self.malformed)} malformed, first: {self.malformed[0]}",
                )
            raise SourceFormatError(self.source, "no usable rows")
        return Parsed(items, malformed=self.malformed, ignored=self.ignored)
