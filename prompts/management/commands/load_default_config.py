"""`manage.py load_default_config [--if-empty]`: import the shipped routing and strategy files.

`--if-empty` is for start-up scripts: it does nothing once any provider exists, so restarting never
overwrites what an operator changed in the admin.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from prompts.config_io import default_strategies_path, load_strategies_file, strategies_import
from routing.config_io import ConfigError, default_routing_path, load_routing_file, routing_config_import
from routing.models import Provider


class Command(BaseCommand):
    help = (
        f"Import the default configuration: {default_routing_path().name} (routing) and "
        f"{default_strategies_path().name} (prompt strategies), together in one transaction."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when any provider already exists (safe to run on every start).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        routing_path, strategies_path = default_routing_path(), default_strategies_path()
        try:
            # The emptiness check and both imports share one transaction: all or nothing, and on SQLite
            # (BEGIN IMMEDIATE) two processes starting at once cannot both see an empty table.
            with transaction.atomic():
                if options["if_empty"] and Provider.objects.exists():
                    self.stdout.write(
                        "Default configuration not loaded: providers already exist (--if-empty); "
                        "the configuration in the database is kept."
                    )
                    return
                routing_summary = routing_config_import(load_routing_file(routing_path))
                strategies_summary = strategies_import(load_strategies_file(strategies_path))
        except ConfigError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Loaded default configuration: routing ({routing_summary}); strategies ({strategies_summary})"
        )
