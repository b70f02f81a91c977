from django.apps import AppConfig


class ApiKeysConfig(AppConfig):
    name = "apikeys"
    verbose_name = "Gateway keys"

    def ready(self) -> None:
        from apikeys import signals
        from core import lifecycle

        signals.connect()
        lifecycle.on_shutdown(_settle_limiter, stage=lifecycle.SETTLE)


async def _settle_limiter() -> None:
    """The last spend and token corrections reach the shared limiter before the process exits."""
    from apikeys.state import limiter

    await limiter.aclose()
