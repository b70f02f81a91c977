"""Make sure an admin login exists: from ADMIN_USERNAME / ADMIN_PASSWORD, or generated and printed once."""

from __future__ import annotations

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the admin login if none exists (ADMIN_USERNAME/ADMIN_PASSWORD, else a generated password)."

    def handle(self, *args, **options) -> None:
        users = get_user_model()
        username = os.environ.get("ADMIN_USERNAME", "admin")
        password = os.environ.get("ADMIN_PASSWORD", "")
        existing = users.objects.filter(username=username).first()
        if existing is not None:
            if password and not existing.check_password(password):
                existing.set_password(password)
                existing.save(update_fields=["password"])
                self.stdout.write(f"Admin login '{username}': password updated from ADMIN_PASSWORD.")
            else:
                self.stdout.write(f"Admin login '{username}' exists.")
            return
        if users.objects.filter(is_superuser=True).exists() and not os.environ.get("ADMIN_USERNAME"):
            self.stdout.write("An admin login exists.")
            return
        generated = not password
        password = password or secrets.token_urlsafe(12)
        users.objects.create_superuser(username=username, email="", password=password)
        if generated:
            path = settings.DATA_DIR / "admin_password"
            path.write_text(f"{username}:{password}\n")
            path.chmod(0o600)
            self.stdout.write(
                f"Admin login created: user '{username}', password '{password}' (also in {path}; "
                "set ADMIN_USERNAME/ADMIN_PASSWORD to choose your own)."
            )
        else:
            self.stdout.write(f"Admin login '{username}' created from ADMIN_PASSWORD.")
