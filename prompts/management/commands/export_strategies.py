"""`manage.py export_strategies [--output PATH]`: write the prompt strategies as canonical YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from prompts.config_io import ConfigError, dumps_strategies, strategies_export


class Command(BaseCommand):
    help = "Export per-role prompt strategies as YAML that import_strategies accepts (stdout unless --output)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", help="File to write (default: standard output)")

    def handle(self, *args: Any, **options: Any) -> None:
        data = strategies_export()
        try:
            text = dumps_strategies(data)
        except ConfigError as exc:
            raise CommandError(f"the stored strategies cannot be exported: {exc}") from exc
        summary = f"{len(data['roles'])} role strategies"
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
            self.stdout.write(f"Exported strategies to {options['output']}: {summary}")
        else:
            self.stdout.write(text, ending="")
            # The summary goes to stderr (unstyled), so the exported text on stdout stays pipeable.
            self.stderr.write(f"Exported strategies: {summary}", style_func=str)
