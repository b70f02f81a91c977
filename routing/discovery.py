"""Model discovery: read a provider's catalogue and add the models the gateway does not know yet.

New rows are `<provider>/<upstream id>`, DISABLED until an operator enables them; existing rows
(same public id, or a row of this provider with the same upstream name) are never touched. Sync, with
a short-lived httpx client of its own: called from the admin and a management command, never from
the event loop.

How each kind's catalogue is read: providers.catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db import transaction

from providers.catalogue import DiscoveryError, FoundModel, fetch_catalogue
from routing.models import Model, Provider
from routing.selectors import provider_spec
from routing.services import config_bulk_edit, config_changed

PUBLIC_ID_MAX = 200

if TYPE_CHECKING:
    import httpx

__all__ = ["DiscoveryError", "DiscoveryResult", "FoundModel", "discover_models", "models_create_discovered"]


@dataclass(slots=True)
class DiscoveryResult:
    provider: str
    found: list[FoundModel] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # public ids of the rows created (disabled)

    @property
    def known(self) -> int:
        return len(self.found) - len(self.added)

    def summary(self, limit: int | None = None) -> str:
        """One line for an operator; `limit` caps how many added ids are named."""
        shown = self.added if limit is None else self.added[:limit]
        more = f" and {len(self.added) - len(shown)} more" if len(shown) < len(self.added) else ""
        added = f": {', '.join(shown)}{more}" if self.added else ""
        return (f"{self.provider}: {len(self.found)} model(s) in the catalogue, {len(self.added)} added "
                f"(disabled until you enable them){added}; {self.known} already known or skipped.")


def discover_models(provider: Provider, *, transport: httpx.BaseTransport | None = None) -> DiscoveryResult:
    """Read the provider's catalogue and create rows for new models. Raises DiscoveryError."""
    found = fetch_catalogue(provider_spec(provider), transport=transport)
    return DiscoveryResult(provider.name, found, models_create_discovered(provider=provider, found=found))


def models_create_discovered(*, provider: Provider, found: list[FoundModel]) -> list[str]:
    """Create disabled rows for models not known yet; returns their public ids. Existing rows stay as they are."""
    candidates = {f"{provider.name}/{model.upstream_name}": model for model in found}
    with config_bulk_edit(), transaction.atomic():
        taken = set(Model.objects.filter(public_id__in=list(candidates)).values_list("public_id", flat=True))
        known_upstream = set(Model.objects.filter(provider=provider).values_list("upstream_name", flat=True))
        rows = []
        for public_id, model in candidates.items():
            if public_id in taken or model.upstream_name in known_upstream or len(public_id) > PUBLIC_ID_MAX:
                continue
            flags = {name: value for name, value in (("supports_tools", model.supports_tools),
                                                     ("supports_vision", model.supports_vision),
                                                     ("supports_json", model.supports_json)) if value is not None}
            rows.append(Model(
                public_id=public_id, provider=provider, upstream_name=model.upstream_name,
                context_window=model.context_window, input_price_per_mtok=model.input_price_per_mtok,
                output_price_per_mtok=model.output_price_per_mtok, enabled=False, **flags,
            ))
        Model.objects.bulk_create(rows)
        if rows:
            config_changed()  # bulk_create sends no post_save signal
    return [row.public_id for row in rows]
