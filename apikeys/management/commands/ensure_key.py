"""Say which access mode the gateway runs in; on a first local start with keys required, make one key.

Used by scripts/run, so a fresh checkout can be called at once: the key is printed once, never stored
in plain text (lost: `manage.py create_key`).
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db.models import Q
from django.utils import timezone

from apikeys.models import GatewayKey
from apikeys.services import key_create


class Command(BaseCommand):
    help = "Report the access mode; create a first gateway key ('local') when keys are required and none exists."

    def handle(self, *args, **options) -> None:
        if settings.GATEWAY_ALLOW_ANONYMOUS:
            self.stdout.write(
                "Access: LOCAL MODE (GATEWAY_ALLOW_ANONYMOUS=true): clients on this machine need no key (any "
                "value works); gateway keys still apply their limits. Never expose this mode beyond loopback."
            )
            return
        active = GatewayKey.objects.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
        )
        if active.exists():
            self.stdout.write(
                f"Access: gateway keys required ({active.count()} active; create one with "
                "`.venv/bin/python manage.py create_key --name NAME`, or in the admin)."
            )
            return
        _, plaintext = key_create(name="local", is_admin=True)
        self.stdout.write(
            "Access: gateway keys required. Created a first key 'local' (admin). Copy it now, it is not "
            f"shown again:\n\n    {plaintext}\n\nUse it as your agent's API key (Authorization: Bearer ...)."
        )
