"""`manage.py import_strategies [PATH] [--prune]`: load per-role prompt strategies from YAML."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from prompts.config_io import ConfigError, default_strategies_path, load_strategies_file, strategies_import


class Command(BaseCommand):
    help = (
        "Import per-role prompt strategies from a YAML file. The whole file is validated first; nothing "
        "is written if any part is invalid."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", help=f"YAML file (default: {default_strategies_path()})")
        parser.add_argument("--prune", action="store_true", help="Also delete the strategies of roles not in the file.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["path"] or default_strategies_path()
        try:
            summary = strategies_import(load_strategies_file(path), prune=options["prune"])
        except ConfigError as exc:
            raise CommandError(f"{path}: {exc}" if not str(exc).startswith(str(path)) else str(exc)) from exc
        self.stdout.write(f"Imported strategies from {path}: {summary}")
