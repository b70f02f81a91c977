"""Revoke a gateway key by its visible prefix; every gateway process refuses it within a second."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apikeys.keyformat import PREFIX_LENGTH
from apikeys.models import GatewayKey
from apikeys.services import key_revoke


class Command(BaseCommand):
    help = "Revoke a gateway key, given its prefix (gwk_XXXXXXXX) or the whole key."

    def add_arguments(self, parser) -> None:
        parser.add_argument("key", help="The key's prefix, as shown in the admin and usage rows.")

    def handle(self, *args, **options) -> None:
        prefix = options["key"][:PREFIX_LENGTH]
        key = GatewayKey.objects.filter(prefix=prefix).first()
        if key is None:
            raise CommandError(f"No key with prefix '{prefix}'.")
        key_revoke(key=key)
        self.stdout.write(f"Revoked {key.prefix}… ('{key.name}').")
