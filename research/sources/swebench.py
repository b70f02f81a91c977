"""SWE-bench leaderboards (`SWE-bench/swe-bench.github.io` `data/leaderboards.json`).

Shape: `{"leaderboards": [{"name": "bash-only" | "Verified" | ..., "results": [{name, resolved, date,
tags: ["Model: x", "Org: y", ...], ...}]}]}`. `resolved` is the percentage of issues fixed → coding.

A result names its model(s) in `Model:` tags. Results using exactly one model are kept under that tag's
name (closer to the API id than the display name); results without tags fall back to the display name;
results combining several models are agent systems, not a model, and are ignored. "bash-only" runs every
model in the same minimal agent, so it is the fairest model-to-model comparison; "Verified" mixes
scaffolds. Boards not listed in `BOARDS` are ignored.
"""

from __future__ import annotations

from datetime import date

from research.sources import _io
from research.sources.records import MetricInfo, MetricRecord, Parsed, RowLog, SourceFormatError

SOURCE = "swebench"
BOARDS: dict[str, tuple[str, str]] = {
    "bash-only": ("swebench_bash_only", "SWE-bench bash-only"),
    "verified": ("swebench_verified", "SWE-bench verified"),
    "lite": ("swebench_lite", "SWE-bench lite"),
    "test": ("swebench_full", "SWE-bench full"),
    "multimodal": ("swebench_multimodal", "SWE-bench multimodal"),
}
METRICS: dict[str, MetricInfo] = {metric: MetricInfo("coding", label, "%") for metric, label in BOARDS.values()}


def parse(body: bytes, *, url: str, fetched_at: date) -> Parsed[MetricRecord]:
    """Records per single-model result; raises SourceFormatError without a `leaderboards` list of known boards."""
    data = _io.load_json(body, SOURCE)
    boards = data.get("leaderboards") if isinstance(data, dict) else None
    if not isinstance(boards, list):
        raise SourceFormatError(SOURCE, "expected an object with a 'leaderboards' list")
    if not boards:
        raise SourceFormatError(SOURCE, "empty 'leaderboards' list")
    log = RowLog(SOURCE)
    records: list[MetricRecord] = []
    seen_known = False
    for board in boards:
        if not isinstance(board, dict) or not isinstance(board.get("results"), list):
            log.bad(board.get("name") if isinstance(board, dict) else "?", "board without a 'results' list")
            continue
        key = str(board.get("name", "")).strip().lower()
        if key not in BOARDS:
            log.skip(board.get("name"), "board not mapped")
            continue
        seen_known = True
        metric, _ = BOARDS[key]
        for index, result in enumerate(board["results"]):
            record = _result(result, metric, url, fetched_at, log, f"{key}[{index}]")
            if record is not None:
                records.append(record)
    if not seen_known:
        raise SourceFormatError(SOURCE, f"none of the boards {sorted(BOARDS)} present")
    return log.finish(records)


def _result(result: object, metric: str, url: str, fetched_at: date, log: RowLog, where: str) -> MetricRecord | None:
    if not isinstance(result, dict):
        log.bad(where, "result is not an object")
        return None
    tags = result.get("tags") if isinstance(result.get("tags"), list) else []
    models = [tag.split(":", 1)[1].strip() for tag in tags if isinstance(tag, str) and tag.startswith("Model:")]
    display = str(result.get("name") or "").strip()
    if len(models) > 1:
        log.skip(display or where, f"system combining {len(models)} models")
        return None
    model = models[0] if models else display
    if not model:
        log.bad(where, "no model name")
        return None
    resolved = _io.number(result.get("resolved"))
    if resolved is None:
        log.bad(model, f"resolved is {result.get('resolved')!r}")
        return None
    as_of = _io.day(result.get("date")) or fetched_at
    return MetricRecord(model, metric, METRICS[metric].family, resolved, True, SOURCE, as_of, url)
