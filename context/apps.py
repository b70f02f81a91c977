from django.apps import AppConfig


class ContextConfig(AppConfig):
    name = "context"
    verbose_name = "Conversation context"

    def ready(self) -> None:
        from context import signals
        from core import lifecycle

        signals.connect()
        lifecycle.on_shutdown(_flush_exchanges, stage=lifecycle.FLUSH)


async def _flush_exchanges() -> None:
    from context.state import recorder

    await recorder.aclose()
