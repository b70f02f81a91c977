"""`manage.py purge_conversations --older-than 30d`: delete conversations not updated for that long."""

from __future__ import annotations

import re
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from context.services import conversations_purge, purge_schedule_ensure

UNITS = {"d": "days", "h": "hours", "w": "weeks", "m": "minutes"}


def parse_age(value: str) -> timedelta:
    """'30d', '12h', '2w', '90m' (or a bare number of days) as a timedelta."""
    match = re.fullmatch(r"(\d+)\s*([dhwm]?)", value.strip().lower())
    if not match:
        raise CommandError(f"--older-than {value!r}: use a number and a unit, e.g. 30d, 12h, 2w or 90m")
    return timedelta(**{UNITS[match.group(2) or "d"]: int(match.group(1))})


class Command(BaseCommand):
    help = "Delete stored conversations (messages and interactions with them) not updated for a while."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", help="e.g. 30d, 12h, 2w (default: CONVERSATION_RETENTION_DAYS days)")
        parser.add_argument("--dry-run", action="store_true", help="count what would be deleted, delete nothing")
        parser.add_argument("--schedule", action="store_true",
                            help="also create the daily task that applies CONVERSATION_RETENTION_DAYS (idempotent)")

    def handle(self, *args, **options) -> None:
        if options["schedule"]:
            self.stdout.write(f"daily purge task: {purge_schedule_ensure()}")
        if options["older_than"]:
            age = parse_age(options["older_than"])
        elif settings.CONVERSATION_RETENTION_DAYS:
            age = timedelta(days=settings.CONVERSATION_RETENTION_DAYS)
        else:
            if not options["schedule"]:
                self.stdout.write("Nothing to do: pass --older-than, or set CONVERSATION_RETENTION_DAYS.")
            return
        result = conversations_purge(older_than=age, dry_run=options["dry_run"])
        verb = "would delete" if options["dry_run"] else "deleted"
        self.stdout.write(f"{verb} {result} (not updated for {age})")
