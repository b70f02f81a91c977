"""Arena-Hard-Auto (`lmarena/arena-catalog` `data/arena_hard_auto_leaderboard_v0.1.csv`).

Columns `model,score,rating_q025,rating_q975,CI,avg_tokens,date`; `score` is the win rate (%) against
the baseline on 500 hard arena prompts, judged by a strong model. It was built to predict the arena's
overall ranking, so it feeds general_chat.
"""

from __future__ import annotations

from datetime import date

from research.sources import _io
from research.sources.records import MetricInfo, MetricRecord, Parsed, RowLog

SOURCE = "arena_hard"
METRICS: dict[str, MetricInfo] = {"arena_hard_auto": MetricInfo("general_chat", "Arena-Hard-Auto", "%")}


def parse(body: bytes, *, url: str, fetched_at: date) -> Parsed[MetricRecord]:
    """One record per row; raises SourceFormatError without the `model` and `score` columns."""
    _, rows = _io.load_csv(body, SOURCE, required=("model", "score"))
    info = METRICS["arena_hard_auto"]
    log = RowLog(SOURCE)
    records: list[MetricRecord] = []
    for index, row in enumerate(rows, start=2):
        model = row.get("model", "").strip()
        score = _io.number(row.get("score"))
        if not model or score is None:
            log.bad(model or f"line {index}", f"score is {row.get('score')!r}")
            continue
        as_of = _io.day(row.get("date")) or fetched_at
        records.append(MetricRecord(model, "arena_hard_auto", info.family, score, True, SOURCE, as_of, url))
    return log.finish(records)
