"""`manage.py mock_upstream`: run the deterministic OpenAI mock upstream in the foreground."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mock_upstream.cli import add_arguments, knobs_from_options, serve
from mock_upstream.knobs import validate_knobs


class Command(BaseCommand):
    help = (
        "Run a deterministic OpenAI-compatible chat-completions server for trying the gateway without "
        "a provider key; runs until Ctrl-C / SIGTERM and prints the base URL to configure."
    )
    requires_system_checks: list[str] = []  # needs neither the database nor the app registry

    def add_arguments(self, parser: CommandParser) -> None:
        add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            validate_knobs(knobs_from_options(options))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc

        def write(text: str) -> None:
            self.stdout.write(text)
            self.stdout.flush()

        try:
            serve(options, write)
        except OSError as exc:
            raise CommandError(f"cannot listen on {options['host']}:{options['port']}: {exc}") from exc
