"""Open LLM Leaderboard v2 (HF datasets-server `/rows` of `open-llm-leaderboard/contents`).

Shape: `{"features": [{"name": ...}], "rows": [{"row_idx": n, "row": {column: value}}], ...}`. The
model is `fullname` (the Hugging Face repo id); `Submission Date` is when it was evaluated. Scores are the
leaderboard's normalised 0–100 columns (not `... Raw`), which remove the random-guess baseline.

Family mapping:
- IFEval → instruction_following
- MATH Lvl 5 → math
- BBH, GPQA, MUSR, MMLU-PRO → reasoning
Rows the maintainers `Flagged` are ignored.
"""

from __future__ import annotations

from datetime import date

from research.sources import _io
from research.sources.records import MetricInfo, MetricRecord, Parsed, RowLog, SourceFormatError

SOURCE = "open_llm"
COLUMNS: dict[str, tuple[str, str, str]] = {
    "IFEval": ("open_llm_ifeval", "instruction_following", "Open LLM IFEval"),
    "BBH": ("open_llm_bbh", "reasoning", "Open LLM BBH"),
    "MATH Lvl 5": ("open_llm_math_lvl5", "math", "Open LLM MATH Lvl 5"),
    "GPQA": ("open_llm_gpqa", "reasoning", "Open LLM GPQA"),
    "MUSR": ("open_llm_musr", "reasoning", "Open LLM MuSR"),
    "MMLU-PRO": ("open_llm_mmlu_pro", "reasoning", "Open LLM MMLU-PRO"),
}
METRICS: dict[str, MetricInfo] = {metric: MetricInfo(family, label, "") for metric, family, label in COLUMNS.values()}
NAME_COLUMN = "fullname"


def parse(body: bytes, *, url: str, fetched_at: date) -> Parsed[MetricRecord]:
    """Records per (row, score column); raises SourceFormatError when `fullname` or a score column is missing."""
    data = _io.load_json(body, SOURCE)
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise SourceFormatError(SOURCE, "expected a datasets-server /rows object with a 'rows' list")
    if not data["rows"]:
        raise SourceFormatError(SOURCE, "empty 'rows' list")
    features = data.get("features")
    if isinstance(features, list):
        names = {f.get("name") for f in features if isinstance(f, dict)}
    else:  # older datasets-server answers omit features: take the columns of the first row
        first = data["rows"][0].get("row") if isinstance(data["rows"][0], dict) else None
        names = set(first) if isinstance(first, dict) else set()
    missing = [column for column in (NAME_COLUMN, *COLUMNS) if column not in names]
    if missing:
        raise SourceFormatError(SOURCE, f"missing column(s) {', '.join(missing)}: the schema changed")
    log = RowLog(SOURCE)
    records: list[MetricRecord] = []
    for index, item in enumerate(data["rows"]):
        row = item.get("row") if isinstance(item, dict) else None
        where = item.get("row_idx", index) if isinstance(item, dict) else index
        if not isinstance(row, dict):
            log.bad(where, "no 'row' object")
            continue
        model = row.get(NAME_COLUMN)
        if not isinstance(model, str) or not model.strip():
            log.bad(where, "no fullname")
            continue
        if row.get("Flagged") is True:
            log.skip(model, "flagged by the leaderboard maintainers")
            continue
        as_of = _io.day(row.get("Submission Date")) or fetched_at
        for column, (metric, family, _) in COLUMNS.items():
            value = _io.number(row.get(column))
            if value is None:
                log.bad(f"{model}/{column}", f"value is {row.get(column)!r}")
                continue
            records.append(MetricRecord(model.strip(), metric, family, value, True, SOURCE, as_of, url))
    return log.finish(records)
