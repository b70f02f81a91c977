"""The one model of the shared core: the version tokens each process polls to drop its snapshots."""

from __future__ import annotations

import uuid

from django.db import models


class ConfigVersion(models.Model):
    """One row per configuration domain ("routing", "keys"); its token changes on every edit there.

    A random token rather than a counter, so a table flushed and refilled never repeats a version.
    The table keeps the name it had when this lived in `routing`.
    """

    key = models.CharField(max_length=32, primary_key=True)
    token = models.UUIDField(default=uuid.uuid4)
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "routing_configversion"

    def __str__(self) -> str:
        return f"{self.key}: {self.token}"
