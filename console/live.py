"""The live state the control-plane pages show: what this serving process knows right now.

Circuits are per process (proxy.circuit): the admin is served by a gateway process, so these are the
circuits of the process that answered this page, the same figures its /status reports. The quota is
counted from the usage rows, as /status does.
"""

from __future__ import annotations

from django.conf import settings

from apikeys.models import GatewayKey
from apikeys.selectors import key_spec
from console.preview import LiveState
from proxy.health import QUOTA_PROVIDER
from proxy.state import circuit_breaker
from usage.selectors import tokens_used_this_month


def quota_state() -> dict:
    used = tokens_used_this_month(QUOTA_PROVIDER)
    quota = settings.NANOGPT_MONTHLY_QUOTA
    return {"provider": QUOTA_PROVIDER, "monthly_tokens": quota, "used_this_month": used,
            "remaining": max(quota - used, 0), "exhausted": used >= quota}


def live_state() -> LiveState:
    return LiveState(circuits=circuit_breaker.report(), quota=quota_state())


def key_by_prefix(prefix: str):
    """The KeySpec of an unrevoked key, or None."""
    row = GatewayKey.objects.select_related("profile").filter(prefix=prefix, revoked_at__isnull=True).first()
    return key_spec(row) if row else None


def key_choices() -> list[tuple[str, str]]:
    return [(row.prefix, str(row)) for row in GatewayKey.objects.filter(revoked_at__isnull=True).order_by("name")]
