"""Fill the hourly usage roll-up from the raw rows: once after upgrading, or to repair it."""

from __future__ import annotations

from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime

from usage.services import usage_rollup_rebuild


def parse_moment(value: str) -> datetime:
    """An ISO date (midnight UTC) or date-time (UTC unless it names an offset)."""
    from datetime import UTC, time

    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"not a date or date-time: {value!r} (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)")
        moment = datetime.combine(day, time(), tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Recompute the hourly usage roll-up from the usage rows (all of them, or from --since on)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--since", help="Only hours from this date (UTC, YYYY-MM-DD[THH:MM]) on.")

    def handle(self, *args, since: str | None = None, **options) -> None:
        written = usage_rollup_rebuild(since=parse_moment(since) if since else None)
        self.stdout.write(f"usage roll-up rebuilt: {written} hourly rows")
