"""Shipped defaults, set up idempotently by `manage.py research setup` (scripts/run and scripts/up run it):

- the default sources (the real public files; rows that exist, by name, are never changed);
- the weights, from config/research_weights.yaml, when the database has none;
- the monthly django-celery-beat periodic task (1st of each month, 02:00 UTC), created when missing and
  otherwise left as the operator edited it (`reset_schedule` puts the default back).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from research.models import ResearchSource, RoleWeight
from research.weights import weights_import_file

RAW = "https://raw.githubusercontent.com"
SCHEDULE_NAME = "research: monthly run"
SCHEDULE_TASK = "research.tasks.run_research"
MONTHLY = {"minute": "0", "hour": "2", "day_of_month": "1", "month_of_year": "*", "day_of_week": "*"}

DEFAULT_SOURCES: tuple[dict, ...] = (
    {"name": "openrouter", "kind": "openrouter", "url": "https://openrouter.ai/api/v1/models",
     "notes": "The catalogue: identities (canonical slugs), prices, context windows. Without it nothing matches."},
    {"name": "openrouter_benchmarks", "kind": "openrouter_benchmarks", "url": "https://openrouter.ai/api/v1/models",
     "notes": "Artificial Analysis indices embedded in the same catalogue answer (fetched once per run)."},
    {"name": "aider", "kind": "aider",
     "url": f"{RAW}/Aider-AI/aider/main/aider/website/_data/polyglot_leaderboard.yml"},
    {"name": "lmarena", "kind": "lmarena", "url": f"{RAW}/lmarena/arena-catalog/main/data/leaderboard-text.json"},
    {"name": "lmarena_style_control", "kind": "lmarena_style_control", "enabled": False,
     "url": f"{RAW}/lmarena/arena-catalog/main/data/leaderboard-text-style-control.json",
     "notes": "The same arena with style control; off by default so one publisher is not counted twice."},
    {"name": "livebench", "kind": "livebench",
     "url": f"{RAW}/LiveBench/livebench.github.io/main/public/table_2026_01_08.csv",
     "documents": {"categories": f"{RAW}/LiveBench/livebench.github.io/main/public/categories_2026_01_08.json"},
     "notes": "LiveBench publishes dated files per release: point both URLs at the latest release's."},
    {"name": "swebench", "kind": "swebench", "url": f"{RAW}/SWE-bench/swe-bench.github.io/main/data/leaderboards.json"},
    {"name": "arena_hard", "kind": "arena_hard", "enabled": False,
     "url": f"{RAW}/lmarena/arena-catalog/95560e327d5fb734bbf7f1c1abb54ac1c00fc77f/data/"
            "arena_hard_auto_leaderboard_v0.1.csv",
     "notes": "Removed upstream after this commit (data up to 2025-01); off by default."},
    {"name": "open_llm", "kind": "open_llm", "enabled": False,
     "url": "https://datasets-server.huggingface.co/rows?dataset=open-llm-leaderboard%2Fcontents"
            "&config=default&split=train&offset=0&length=100",
     "notes": "Open-weights models only, archived in 2025; off by default."},
)  # fmt: skip


@dataclass
class SetupSummary:
    sources_created: list[str] = field(default_factory=list)
    weights_imported: bool = False
    schedule: str = "kept"  # created | kept | reset

    def __str__(self) -> str:
        sources = ", ".join(self.sources_created) if self.sources_created else "none new"
        weights = "imported from config/research_weights.yaml" if self.weights_imported else "kept"
        return f"sources: {sources}; weights: {weights}; monthly schedule: {self.schedule}"


def research_setup(*, reset_schedule: bool = False) -> SetupSummary:
    with transaction.atomic():
        summary = SetupSummary(sources_created=sources_load_defaults())
        if not RoleWeight.objects.exists():
            weights_import_file()
            summary.weights_imported = True
        summary.schedule = schedule_ensure(reset=reset_schedule)
    return summary


def sources_load_defaults() -> list[str]:
    """Create the default sources that do not exist by name; returns the names created."""
    existing = set(ResearchSource.objects.values_list("name", flat=True))
    created = []
    for spec in DEFAULT_SOURCES:
        if spec["name"] in existing:
            continue
        ResearchSource.objects.create(
            name=spec["name"], kind=spec["kind"], url=spec["url"], documents=spec.get("documents", {}),
            enabled=spec.get("enabled", True), notes=spec.get("notes", ""),
        )
        created.append(spec["name"])
    return created


def schedule_ensure(*, reset: bool = False) -> str:
    """The monthly periodic task: 'created' when missing, 'kept' when present, 'reset' with `reset`."""
    crontab, _ = CrontabSchedule.objects.get_or_create(**MONTHLY, timezone="UTC")
    task = PeriodicTask.objects.filter(name=SCHEDULE_NAME).first()
    if task is not None and not reset:
        return "kept"
    values = {
        "task": SCHEDULE_TASK,
        "crontab": crontab,
        "interval": None,
        "solar": None,
        "clocked": None,
        "kwargs": json.dumps({"mode": "trigger", "triggered_by": "schedule"}),
        "enabled": True,
        "description": "Monthly model research: fetch benchmarks and catalogues, re-score, update rankings. "
        "Without a broker the gateway process runs it (RESEARCH_EMBEDDED_SCHEDULER).",
    }
    if task is None:
        PeriodicTask.objects.create(name=SCHEDULE_NAME, **values)
        return "created"
    for name, value in values.items():
        setattr(task, name, value)
    task.save()
    return "reset"
