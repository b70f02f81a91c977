"""`manage.py import_prices <file-or-url> [--apply]`: model prices from a catalogue in OpenRouter's format."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from routing.models import Model
from routing.prices import CatalogueInvalid, describe, parse_catalogue, plan_price_changes, read_source
from routing.services import model_prices_apply


class Command(BaseCommand):
    help = (
        "Show the price changes a catalogue in OpenRouter's /api/v1/models format would make to the gateway's "
        "models (input, output, cached input, cache write; $ per 1M tokens). Nothing is written without --apply."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", help="a JSON file, or an http(s) URL such as https://openrouter.ai/api/v1/models")
        parser.add_argument("--apply", action="store_true", help="write the changes (default: only show them)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            catalogue = parse_catalogue(read_source(options["source"]))
        except CatalogueInvalid as exc:
            raise CommandError(f"{options['source']}: {exc}") from exc
        changes, unmatched = plan_price_changes(Model.objects.order_by("public_id"), catalogue)
        for line in describe(changes, unmatched):
            self.stdout.write(line)
        if not changes:
            return
        if options["apply"]:
            count = model_prices_apply(changes=changes)
            self.stdout.write(self.style.SUCCESS(f"Applied {len(changes)} price change(s) to {count} model(s)."))
        else:
            self.stdout.write("Dry run: nothing written. Run again with --apply to apply these changes.")
