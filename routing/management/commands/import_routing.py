"""`manage.py import_routing [PATH] [--prune]`: load providers, models, rankings and profiles from JSON."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from routing.config_io import ConfigError, default_routing_path, load_routing_file, routing_config_import


class Command(BaseCommand):
    help = (
        "Import the routing configuration (providers, models, role rankings, profiles) from a JSON file. "
        "The whole file is validated first; nothing is written if any part is invalid."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", help=f"JSON file (default: {default_routing_path()})")
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Also delete providers, models and profiles not in the file, and clear the rankings of "
            "roles not in it.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["path"] or default_routing_path()
        try:
            summary = routing_config_import(load_routing_file(path), prune=options["prune"])
        except ConfigError as exc:
            raise CommandError(f"{path}: {exc}" if not str(exc).startswith(str(path)) else str(exc)) from exc
        self.stdout.write(f"Imported routing from {path}: {summary}")
