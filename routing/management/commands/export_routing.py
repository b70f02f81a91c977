"""`manage.py export_routing [--output PATH]`: write the routing configuration as canonical JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from routing.config_io import ConfigError, dumps_routing, routing_config_export


class Command(BaseCommand):
    help = "Export the routing configuration as JSON that import_routing accepts (stdout unless --output)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", help="File to write (default: standard output)")

    def handle(self, *args: Any, **options: Any) -> None:
        data = routing_config_export()
        try:
            text = dumps_routing(data)
        except ConfigError as exc:
            raise CommandError(f"the stored routing configuration cannot be exported: {exc}") from exc
        summary = (
            f"{len(data['providers'])} providers, {len(data['models'])} models, {len(data['roles'])} roles, "
            f"{len(data['profiles'])} profiles"
        )
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
            self.stdout.write(f"Exported routing to {options['output']}: {summary}")
        else:
            self.stdout.write(text, ending="")
            # The summary goes to stderr (unstyled), so the exported text on stdout stays pipeable.
            self.stderr.write(f"Exported routing: {summary}", style_func=str)
