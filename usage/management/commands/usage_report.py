"""`manage.py usage_report`: usage over a period, grouped, as a table, CSV or JSON (from the hourly roll-up)."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, time, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from usage.management.commands.usage_rollup_backfill import parse_moment
from usage.selectors import REPORT_GROUPS, REPORT_MEASURES, usage_report


class Command(BaseCommand):
    help = ("Usage (requests, errors, fallbacks, tokens, cost, average latency) between --since and --until, "
            "grouped by any of: " + ", ".join(REPORT_GROUPS) + ". Times are UTC; a date alone is its midnight, "
            "and --until is exclusive (default: now).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--since", help="start, YYYY-MM-DD[THH:MM] (UTC; default: the first of this month)")
        parser.add_argument("--until", help="end, exclusive, YYYY-MM-DD[THH:MM] (UTC; default: now)")
        parser.add_argument("--group-by", default="model", help="comma-separated, e.g. model,role (default: model)")
        parser.add_argument("--format", choices=("table", "csv", "json"), default="table")

    def handle(self, *args, since=None, until=None, group_by="model", format="table", **options) -> None:
        now = timezone.now().astimezone(UTC)
        start = parse_moment(since) if since else datetime.combine(now.date().replace(day=1), time(), tzinfo=UTC)
        end = parse_moment(until) if until else now + timedelta(hours=1)  # the current hour included
        if end <= start:
            raise CommandError(f"--until ({end:%Y-%m-%d %H:%M}) must be after --since ({start:%Y-%m-%d %H:%M})")
        if start.minute or start.second or start.microsecond or (until and (end.minute or end.second)):
            raise CommandError("--since and --until must be whole hours: the report reads hourly sums")
        groups = [name.strip() for name in group_by.split(",") if name.strip()]
        unknown = [name for name in groups if name not in REPORT_GROUPS]
        if unknown or not groups:
            raise CommandError(f"--group-by: unknown {', '.join(unknown) or '(empty)'}; "
                               f"choose from {', '.join(REPORT_GROUPS)}")
        rows = usage_report(start=start, end=end, group_by=groups)
        columns = [*groups, *REPORT_MEASURES]
        if format == "json":
            self.stdout.write(json.dumps({"since": start.isoformat(), "until": end.isoformat(), "group_by": groups,
                                          "rows": rows}, indent=2))
        elif format == "csv":
            writer = csv.writer(self.stdout, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows([row[column] for column in columns] for row in rows)
        else:
            self._table(columns, rows, groups, start, end)

    def _table(self, columns: list[str], rows: list[dict], groups: list[str], start, end) -> None:
        def text(value) -> str:
            if value is None:
                return "—"
            if isinstance(value, float):
                return f"{value:.4f}" if value < 100 else f"{value:,.2f}"
            if isinstance(value, int):
                return f"{value:,}"
            return value or "(none)"

        totals = {column: sum(row[column] for row in rows) for column in REPORT_MEASURES if column != "avg_latency_ms"}
        cells = [[text(row[column]) for column in columns] for row in rows]
        cells.append(["TOTAL", *[""] * (len(groups) - 1),
                      *[text(totals.get(column)) if column in totals else "" for column in REPORT_MEASURES]])
        widths = [max(len(column), *(len(row[index]) for row in cells)) for index, column in enumerate(columns)]
        self.stdout.write(f"Usage {start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC")
        self.stdout.write("  ".join(column.ljust(width) if index < len(groups) else column.rjust(width)
                                    for index, (column, width) in enumerate(zip(columns, widths, strict=True))))
        for row in cells:
            self.stdout.write("  ".join(cell.ljust(width) if index < len(groups) else cell.rjust(width)
                                        for index, (cell, width) in enumerate(zip(row, widths, strict=True))))
