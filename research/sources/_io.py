"""Decoding helpers shared by the format modules: every failure becomes a SourceFormatError.

A real fetch fails in a handful of ways (an HTML error or login page with status 200, an empty body,
a truncated file, a renamed column); these helpers turn each into a message that names it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from datetime import date, datetime
from typing import Any

import yaml

from research.sources.records import SourceFormatError

_URL_DATE = re.compile(r"(20\d{2})[_-](\d{2})[_-](\d{2})")


def text(body: bytes, source: str) -> str:
    """UTF-8 text of a body; raises SourceFormatError for empty, undecodable or HTML bodies."""
    if not isinstance(body, bytes | bytearray):
        raise SourceFormatError(source, f"expected bytes, got {type(body).__name__}")
    try:
        decoded = bytes(body).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceFormatError(source, f"body is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    stripped = decoded.strip()
    if not stripped:
        raise SourceFormatError(source, "empty body")
    head = stripped[:512].lower()
    if stripped.startswith("<") or "<html" in head or "<!doctype" in head:
        raise SourceFormatError(source, f"got an HTML page instead of data: {_snippet(stripped)!r}")
    return decoded


def load_json(body: bytes, source: str) -> Any:
    raw = text(body, source)
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SourceFormatError(source, f"invalid JSON at line {exc.lineno}: {exc.msg}") from None


def load_yaml(body: bytes, source: str) -> Any:
    raw = text(body, source)
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise SourceFormatError(source, f"invalid YAML: {str(exc).splitlines()[0]}") from None


def load_csv(body: bytes, source: str, required: tuple[str, ...]) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a CSV; raises SourceFormatError when a required column is missing."""
    raw = text(body, source)
    try:
        reader = csv.DictReader(io.StringIO(raw))
        header = [name.strip() for name in (reader.fieldnames or [])]
        rows = [{(k or "").strip(): (v or "") for k, v in row.items() if k is not None} for row in reader]
    except csv.Error as exc:
        raise SourceFormatError(source, f"invalid CSV: {exc}") from None
    missing = [name for name in required if name not in header]
    if missing:
        raise SourceFormatError(source, f"missing column(s) {', '.join(missing)}; header is {header[:12]}")
    if not rows:
        raise SourceFormatError(source, "CSV has a header but no rows")
    return header, rows


def number(value: object) -> float | None:
    """A finite float from a JSON/YAML/CSV cell, else None (empty, '-', 'N/A', NaN, bool)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        cleaned = value.strip().rstrip("%")
        if not cleaned or cleaned in {"-", "N/A", "n/a", "nan"}:
            return None
        try:
            result = float(cleaned)
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


def day(value: object) -> date | None:
    """A date from `2025-02-25`, a YAML date, or an ISO timestamp; None when absent or unreadable."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        match = re.match(r"\s*(\d{4})-(\d{2})-(\d{2})", value)
        if match:
            try:
                return date(int(match[1]), int(match[2]), int(match[3]))
            except ValueError:
                return None
    return None


def date_from_url(url: str) -> date | None:
    """Snapshot files name their date (`table_2026_01_08.csv`): the data is as of that day, not the fetch."""
    match = _URL_DATE.search(url)
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def _snippet(raw: str) -> str:
    return " ".join(raw[:80].split())
