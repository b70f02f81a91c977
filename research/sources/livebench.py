"""LiveBench (`livebench.github.io` `public/table_<date>.csv` + `public/categories_<date>.json`).

The table has one column per task (0–100) and a `model` column; the categories file maps each category
to its task columns. A category score is the mean of its tasks (the site's own convention); a model
missing any task of a category gets no score for that category (a partial mean would not be comparable).

Family mapping:
- Reasoning → reasoning; Data Analysis → reasoning (table joins, reformatting: analytical work)
- Coding → coding; Agentic Coding → coding
- Mathematics → math
- IF → instruction_following
- Language → writing (connections, plot unscrambling, typos: language skill, the closest LiveBench has
  to writing)
Unknown categories are ignored (listed on the result). The release date comes from the URL when it
names one (`table_2026_01_08.csv`), else the fetch date.
"""

from __future__ import annotations

import json
from datetime import date

from research.sources import _io
from research.sources.records import MetricInfo, MetricRecord, Parsed, RowLog, SourceFormatError

SOURCE = "livebench"
CATEGORIES: dict[str, tuple[str, str]] = {
    "Reasoning": ("livebench_reasoning", "reasoning"),
    "Data Analysis": ("livebench_data_analysis", "reasoning"),
    "Coding": ("livebench_coding", "coding"),
    "Agentic Coding": ("livebench_agentic_coding", "coding"),
    "Mathematics": ("livebench_mathematics", "math"),
    "IF": ("livebench_if", "instruction_following"),
    "Language": ("livebench_language", "writing"),
}
METRICS: dict[str, MetricInfo] = {
    metric: MetricInfo(family, f"LiveBench {name}", "%") for name, (metric, family) in CATEGORIES.items()
}


def parse(body: bytes, *, url: str, fetched_at: date, categories: bytes | None = None) -> Parsed[MetricRecord]:
    """Category means per model; `categories` is the body of the matching categories JSON (required).

    Raises SourceFormatError when the categories are missing or malformed, or name a task column the
    table does not have (the two files are from different releases).
    """
    if categories is None:
        raise SourceFormatError(SOURCE, "the categories JSON is required to group task columns")
    mapping = _categories(categories)
    known = {name: tasks for name, tasks in mapping.items() if name in CATEGORIES}
    if not known:
        raise SourceFormatError(SOURCE, f"no known category in the categories JSON; got {sorted(mapping)}")
    needed = tuple(dict.fromkeys(task for tasks in known.values() for task in tasks))
    _, rows = _io.load_csv(body, SOURCE, required=("model", *needed))
    as_of = _io.date_from_url(url) or fetched_at
    log = RowLog(SOURCE)
    for name in sorted(set(mapping) - set(known)):
        log.skip(name, "category without a family mapping")
    records: list[MetricRecord] = []
    for index, row in enumerate(rows, start=2):
        model = row.get("model", "").strip()
        if not model:
            log.bad(f"line {index}", "no model name")
            continue
        for name, tasks in known.items():
            values = [_io.number(row.get(task)) for task in tasks]
            if any(value is None for value in values):
                missing = [task for task, value in zip(tasks, values, strict=True) if value is None]
                log.bad(f"{model}/{name}", f"no value for {', '.join(missing)}")
                continue
            metric, family = CATEGORIES[name]
            mean = sum(v for v in values if v is not None) / len(values)
            records.append(MetricRecord(model, metric, family, round(mean, 4), True, SOURCE, as_of, url))
    return log.finish(records)


def _categories(body: bytes) -> dict[str, list[str]]:
    data = _io.load_json(body, SOURCE)
    if not isinstance(data, dict) or not data:
        raise SourceFormatError(SOURCE, "categories JSON must be a non-empty object of category → task list")
    result: dict[str, list[str]] = {}
    for name, tasks in data.items():
        if not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) for t in tasks):
            raise SourceFormatError(SOURCE, f"category {name!r} is not a list of task names: {json.dumps(tasks)[:60]}")
        result[str(name)] = tasks
    return result
