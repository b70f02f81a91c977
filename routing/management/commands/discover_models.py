"""`manage.py discover_models [PROVIDER ...]`: add the models a provider's catalogue lists (disabled)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from routing.discovery import DiscoveryError, discover_models
from routing.models import Provider


class Command(BaseCommand):
    help = (
        "Read each provider's model catalogue and add the models the gateway does not know yet, as "
        "'<provider>/<model>' rows, disabled until you enable them. Existing rows are never changed. "
        "Without names: every enabled provider."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("providers", nargs="*", metavar="PROVIDER", help="provider names (default: all enabled)")

    def handle(self, *args: Any, **options: Any) -> None:
        names: list[str] = options["providers"]
        if names:
            rows = {row.name: row for row in Provider.objects.filter(name__in=names)}
            unknown = [name for name in names if name not in rows]
            if unknown:
                known = ", ".join(Provider.objects.values_list("name", flat=True)) or "none"
                raise CommandError(f"Unknown provider(s): {', '.join(unknown)}. Known: {known}.")
            providers = [rows[name] for name in dict.fromkeys(names)]
        else:
            providers = list(Provider.objects.filter(enabled=True))
        failed = 0
        for provider in providers:
            try:
                result = discover_models(provider)
            except DiscoveryError as exc:
                failed += 1
                self.stderr.write(str(exc))
                continue
            self.stdout.write(result.summary())
        if failed:
            raise CommandError(f"{failed} of {len(providers)} provider(s) could not be read.")
