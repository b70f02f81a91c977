from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = "Routing"

    def ready(self) -> None:
        from core import lifecycle
        from routing import signals

        signals.connect()
        lifecycle.on_startup(_warm_snapshot)
        lifecycle.on_shutdown(_close_upstream_pools, stage=lifecycle.CLOSE)


async def _warm_snapshot() -> None:
    """Load the routing configuration before the first request needs it."""
    from routing.state import routing_snapshot

    await routing_snapshot.get()


async def _close_upstream_pools() -> None:
    from providers.clients import clients

    await clients.aclose()
