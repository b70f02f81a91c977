"""LMArena text leaderboard (`lmarena/arena-catalog` `data/leaderboard-text*.json`).

Shape: `{category: {model_key: {"rating": elo, "rating_q975": ..., "rating_q025": ...}}}`. The file has no
date (it is a live board), so `as_of` is a date in the URL when the URL names one, else the fetch date.

Family mapping (categories not listed are ignored — the real file has ~29, most are languages):
- full → general_chat (the overall arena Elo)
- coding → coding
- math → math
- creative_writing → writing
- if → instruction_following
- hard_6 → reasoning (the hardest prompts, the nearest the arena has to a reasoning test)
- long_user → long_context (long user prompts)
The style-controlled file uses the same shape; its metrics are prefixed `lmarena_sc_`.
"""

from __future__ import annotations

from datetime import date

from research.sources import _io
from research.sources.records import MetricInfo, MetricRecord, Parsed, RowLog, SourceFormatError

SOURCE = "lmarena"
CATEGORIES: dict[str, tuple[str, str]] = {
    "full": ("general_chat", "overall"),
    "coding": ("coding", "coding"),
    "math": ("math", "math"),
    "creative_writing": ("writing", "creative writing"),
    "if": ("instruction_following", "instruction following"),
    "hard_6": ("reasoning", "hard prompts"),
    "long_user": ("long_context", "long queries"),
}
METRICS: dict[str, MetricInfo] = {
    **{f"lmarena_{cat}": MetricInfo(fam, f"LMArena {label}", "Elo") for cat, (fam, label) in CATEGORIES.items()},
    **{
        f"lmarena_sc_{cat}": MetricInfo(fam, f"LMArena {label} (style control)", "Elo")
        for cat, (fam, label) in CATEGORIES.items()
    },
}


def parse(body: bytes, *, url: str, fetched_at: date, style_control: bool = False) -> Parsed[MetricRecord]:
    """One record per (known category, model); raises SourceFormatError when no known category is present."""
    data = _io.load_json(body, SOURCE)
    if not isinstance(data, dict):
        raise SourceFormatError(SOURCE, f"expected an object of categories, got {type(data).__name__}")
    if not data:
        raise SourceFormatError(SOURCE, "empty object")
    known = [cat for cat in CATEGORIES if cat in data]
    if not known:
        raise SourceFormatError(SOURCE, f"none of the categories {sorted(CATEGORIES)} present; got {sorted(data)[:8]}")
    as_of = _io.date_from_url(url) or fetched_at
    prefix = "lmarena_sc_" if style_control else "lmarena_"
    log = RowLog(SOURCE)
    records: list[MetricRecord] = []
    for category in known:
        models = data[category]
        if not isinstance(models, dict):
            log.bad(category, "category is not an object of models")
            continue
        metric = prefix + category
        info = METRICS[metric]
        for model, entry in models.items():
            rating = _io.number(entry.get("rating")) if isinstance(entry, dict) else None
            if rating is None or not str(model).strip():
                log.bad(f"{category}/{model}", "no numeric rating")
                continue
            records.append(MetricRecord(str(model).strip(), metric, info.family, rating, True, SOURCE, as_of, url))
    return log.finish(records)


def parse_style_control(body: bytes, *, url: str, fetched_at: date) -> Parsed[MetricRecord]:
    """The style-controlled board (`leaderboard-text-style-control.json`), same shape as `parse`."""
    return parse(body, url=url, fetched_at=fetched_at, style_control=True)
