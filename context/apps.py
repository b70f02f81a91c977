from django.apps import AppConfig


class ContextConfig(AppConfig):
    name = "context"
    verbose_name = "Conversation context"

    def ready(self) -> None:
        from context import signals
        from core import lifecycle

        signals.connect()
        lifecycle.on_startup(_start_writer)
        lifecycle.on_shutdown(_flush_exchanges, stage=lifecycle.FLUSH)


def _start_writer() -> None:
    """In the background, it first saves the exchanges killed processes left in their journals."""
    from context.state import recorder

    recorder.start()


async def _flush_exchanges() -> None:
    from context.state import recorder, writer_process
    from core.background import run_write

    await recorder.aclose()
    await run_write(writer_process.stop)  # after the last batch; a later one is written in the gateway
