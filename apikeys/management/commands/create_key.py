"""Create a gateway key and print it once (stdout: the key alone, so scripts can capture it)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apikeys.services import key_create
from routing.models import Profile


class Command(BaseCommand):
    help = "Create a gateway API key. The key is printed once; only its hash is stored."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", required=True, help="Who or what uses the key.")
        parser.add_argument("--profile", help="Routing profile the key is pinned to (default: any).")
        parser.add_argument("--models", default="", help="Allowed model ids, comma-separated; '*' globs.")
        parser.add_argument("--roles", default="", help="Allowed roles, comma-separated.")
        parser.add_argument("--rpm", type=int, help="Requests per minute.")
        parser.add_argument("--tpm", type=int, help="Tokens per minute.")
        parser.add_argument("--budget", help="Monthly budget in dollars, e.g. 25.00.")
        parser.add_argument("--expires-in-days", type=float, help="Expire the key after this many days.")
        parser.add_argument("--admin", action="store_true", help="May read the monitoring endpoints (/status).")

    def handle(self, *args, **options) -> None:
        profile = None
        if options["profile"]:
            profile = Profile.objects.filter(name=options["profile"]).first()
            if profile is None:
                raise CommandError(f"No profile named '{options['profile']}'.")
        try:
            budget = Decimal(options["budget"]) if options["budget"] else None
        except InvalidOperation:
            raise CommandError(f"--budget {options['budget']!r} is not an amount.") from None
        days = options["expires_in_days"]
        try:
            key, plaintext = key_create(
                name=options["name"], profile=profile, allowed_models=options["models"],
                allowed_roles=options["roles"], rpm_limit=options["rpm"], tpm_limit=options["tpm"],
                monthly_budget=budget, expires_at=timezone.now() + timedelta(days=days) if days else None,
                is_admin=options["admin"],
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stderr.write(f"Created key {key.prefix}… for '{key.name}'. Copy it now: it is not shown again.")
        self.stdout.write(plaintext)
