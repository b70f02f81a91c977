"""Aider polyglot leaderboard (`aider/website/_data/polyglot_leaderboard.yml`): a YAML list of runs.

Family mapping:
- `pass_rate_2` (percent of the 225 Exercism exercises solved after one retry with test output) →
  coding. It is what the leaderboard ranks by.
- `seconds_per_case` → speed, lower is better (includes thinking time, which is what a user waits for).
`total_cost` is left out: cost comes from catalogue prices so every model is priced the same way.
Runs pairing an architect with an editor model (`editor_model`, or "A + B" names) measure a system of
two models and are ignored.
"""

from __future__ import annotations

from datetime import date

from research.sources import _io
from research.sources.records import MetricInfo, MetricRecord, Parsed, RowLog, SourceFormatError

SOURCE = "aider"
METRICS: dict[str, MetricInfo] = {
    "aider_polyglot": MetricInfo("coding", "Aider polyglot", "%"),
    "aider_seconds_per_case": MetricInfo("speed", "Aider seconds per case", "s", higher_is_better=False),
}


def parse(body: bytes, *, url: str, fetched_at: date) -> Parsed[MetricRecord]:
    """Records per run; raises SourceFormatError when the body is not a list of runs with `pass_rate_2`."""
    runs = _io.load_yaml(body, SOURCE)
    if not isinstance(runs, list):
        raise SourceFormatError(SOURCE, f"expected a YAML list of runs, got {type(runs).__name__}")
    if not runs:
        raise SourceFormatError(SOURCE, "empty list of runs")
    if not any(isinstance(run, dict) and "pass_rate_2" in run for run in runs):
        raise SourceFormatError(SOURCE, "no run has a 'pass_rate_2' field: the schema changed")
    log = RowLog(SOURCE)
    records: list[MetricRecord] = []
    for index, run in enumerate(runs):
        if not isinstance(run, dict):
            log.bad(index, "not a mapping")
            continue
        model = run.get("model")
        if not isinstance(model, str) or not model.strip():
            log.bad(index, "no model name")
            continue
        model = model.strip()
        if run.get("editor_model") or " + " in model:
            log.skip(model, "architect/editor pair, not one model")
            continue
        pass_rate = _io.number(run.get("pass_rate_2"))
        if pass_rate is None:
            log.bad(model, f"pass_rate_2 is {run.get('pass_rate_2')!r}")
            continue
        as_of = _io.day(run.get("date")) or fetched_at
        records.append(_record(model, "aider_polyglot", pass_rate, as_of, url))
        seconds = _io.number(run.get("seconds_per_case"))
        if seconds is not None and seconds > 0:
            records.append(_record(model, "aider_seconds_per_case", seconds, as_of, url))
    return log.finish(records)


def _record(model: str, metric: str, value: float, as_of: date, url: str) -> MetricRecord:
    info = METRICS[metric]
    return MetricRecord(model, metric, info.family, value, info.higher_is_better, SOURCE, as_of, url)
