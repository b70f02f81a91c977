"""Model prices from a catalogue in OpenRouter's `/api/v1/models` format: what would change, then apply it.

A catalogue row's `pricing` holds USD per token as strings: `prompt`, `completion`, `input_cache_read`,
`input_cache_write` (`-1`: varies, ignored). A gateway model matches a row whose id equals its upstream
name or its public id, else whose id without the vendor prefix (`anthropic/claude-sonnet-4` →
`claude-sonnet-4`) does, when only one row does. `:free` rows match only exactly.

Pure but for `read_source` (a file, or a URL fetched by a short-lived client of its own): bytes and model
rows in, a plan out. research/sources/openrouter.py parses the same catalogue for
rankings, but it sits above routing in the layers and keeps no cache prices, so the few fields needed
here are read here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import orjson

PER_MILLION = Decimal(1_000_000)
QUANTUM = Decimal("0.000001")  # the price fields' decimal places
# catalogue pricing key -> Model field ($ per 1M tokens)
PRICE_FIELDS = {
    "prompt": "input_price_per_mtok",
    "completion": "output_price_per_mtok",
    "input_cache_read": "cached_input_price_per_mtok",
    "input_cache_write": "cache_write_price_per_mtok",
}
FIELD_LABELS = {"input_price_per_mtok": "input", "output_price_per_mtok": "output",
                "cached_input_price_per_mtok": "cached input", "cache_write_price_per_mtok": "cache write"}


class CatalogueInvalid(ValueError):
    """The body is not a catalogue in OpenRouter's format; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class PriceChange:
    model: str  # the gateway model's public id
    catalogue_id: str
    field: str  # a Model price field
    old: Decimal | None
    new: Decimal

    @property
    def label(self) -> str:
        return FIELD_LABELS[self.field]

    def as_dict(self) -> dict:
        return {"model": self.model, "catalogue_id": self.catalogue_id, "field": self.field,
                "old": None if self.old is None else str(self.old), "new": str(self.new)}

    @classmethod
    def from_dict(cls, data: dict) -> PriceChange:
        """Raises CatalogueInvalid for anything but what `as_dict` wrote."""
        try:
            if data["field"] not in FIELD_LABELS:
                raise ValueError(data["field"])
            new = Decimal(data["new"])
            old = None if data["old"] is None else Decimal(data["old"])
            if new < 0 or not new.is_finite():
                raise ValueError(data["new"])
            return cls(str(data["model"]), str(data["catalogue_id"]), data["field"], old, new)
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise CatalogueInvalid(f"not a price change: {exc}") from None


MAX_CATALOGUE_BYTES = 64 * 1024 * 1024


def read_source(source: str, timeout: float = 30.0) -> bytes:
    """The catalogue's bytes from a path or an http(s) URL. Raises CatalogueInvalid when it cannot be read."""
    if source.startswith(("http://", "https://")):
        import httpx

        try:
            with httpx.Client(timeout=timeout, follow_redirects=True) as client:
                response = client.get(source, headers={"accept": "application/json"})
        except httpx.HTTPError as exc:
            raise CatalogueInvalid(f"could not fetch {source}: {exc}") from None
        if response.status_code != 200:
            raise CatalogueInvalid(f"{source} answered {response.status_code}")
        return response.content[: MAX_CATALOGUE_BYTES + 1]
    try:
        with open(source, "rb") as file:
            return file.read(MAX_CATALOGUE_BYTES + 1)
    except OSError as exc:
        raise CatalogueInvalid(f"could not read {source}: {exc.strerror or exc}") from None


def parse_catalogue(body: bytes) -> dict[str, dict[str, Decimal]]:
    """Catalogue id -> {Model price field: $ per 1M tokens}, for the prices each row states."""
    if len(body) > MAX_CATALOGUE_BYTES:
        raise CatalogueInvalid(f"larger than {MAX_CATALOGUE_BYTES // (1024 * 1024)} MiB")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise CatalogueInvalid(f"not JSON ({exc})") from None
    rows = data.get("data") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not rows:
        raise CatalogueInvalid("expected an object with a non-empty 'data' list of models (OpenRouter's format)")
    prices: dict[str, dict[str, Decimal]] = {}
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("id"), str) or not isinstance(row.get("pricing"), dict):
            continue
        stated = {}
        for key, field in PRICE_FIELDS.items():
            per_million = _per_million(row["pricing"].get(key))
            if per_million is not None:
                stated[field] = per_million
        if stated:
            prices[row["id"]] = stated
    if not prices:
        raise CatalogueInvalid("no model in the catalogue states a price")
    return prices


def _per_million(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    if not number.is_finite() or number < 0:  # -1: "varies" (routers)
        return None
    return (number * PER_MILLION).quantize(QUANTUM)


def match(public_id: str, upstream_name: str, catalogue: dict[str, dict[str, Decimal]],
          by_suffix: dict[str, list[str]]) -> str | None:
    """The catalogue id a gateway model stands for, or None."""
    for name in (upstream_name, public_id):
        if name in catalogue:
            return name
    for name in (upstream_name, public_id):
        candidates = by_suffix.get(name.rpartition("/")[2], [])
        if len(candidates) == 1:
            return candidates[0]
    return None


def plan_price_changes(models: Iterable, catalogue: dict[str, dict[str, Decimal]]) -> tuple[list[PriceChange],
                                                                                             list[str]]:
    """The changes that would bring `models` (rows with public_id, upstream_name and the price fields) to the
    catalogue's prices, and the public ids of models the catalogue does not list."""
    by_suffix: dict[str, list[str]] = {}
    for catalogue_id in catalogue:
        if not catalogue_id.endswith(":free"):
            by_suffix.setdefault(catalogue_id.rpartition("/")[2], []).append(catalogue_id)
    changes: list[PriceChange] = []
    unmatched: list[str] = []
    for model in models:
        catalogue_id = match(model.public_id, model.upstream_name, catalogue, by_suffix)
        if catalogue_id is None:
            unmatched.append(model.public_id)
            continue
        for field, new in catalogue[catalogue_id].items():
            old = getattr(model, field)
            if old is None or Decimal(old).quantize(QUANTUM) != new:
                changes.append(PriceChange(model.public_id, catalogue_id, field, old, new))
    return changes, unmatched


def describe(changes: list[PriceChange], unmatched: list[str]) -> list[str]:
    """Lines for a terminal: one per change, then the models left as they are."""
    lines = [f"{c.model} ({c.catalogue_id}): {c.label} ${_text(c.old)} -> ${_text(c.new)} per 1M tokens"
             for c in changes]
    if not changes:
        lines.append("No price changes.")
    if unmatched:
        lines.append(f"Not in the catalogue (unchanged): {', '.join(unmatched)}")
    return lines


def _text(price: Decimal | None) -> str:
    return "-" if price is None else format(Decimal(price).normalize(), "f")
