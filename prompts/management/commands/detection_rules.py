"""`manage.py detection_rules --load-defaults`: copy the shipped fast-path table into the admin's rules."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from prompts.services import detection_rules_load_defaults


class Command(BaseCommand):
    help = "Copy the shipped fast-path detection rules into the database so they can be edited in the admin."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--load-defaults", action="store_true",
                            help="replace the stored rules with the shipped table")

    def handle(self, *args, **options) -> None:
        if not options["load_defaults"]:
            self.stdout.write("Nothing to do: pass --load-defaults.")
            return
        self.stdout.write(f"{detection_rules_load_defaults()} rules loaded")
