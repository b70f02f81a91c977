from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"

    def ready(self) -> None:
        from core import lifecycle

        lifecycle.on_startup(_start_recorder)
        lifecycle.on_startup(_start_retention)
        lifecycle.on_shutdown(_flush_recorder, stage=lifecycle.FLUSH)


def _start_recorder() -> None:
    """In the background, it first replays the usage journals of killed processes."""
    from usage.state import recorder

    recorder.start()


def _start_retention() -> None:
    from usage.retention import start_in_process_retention

    start_in_process_retention()


async def _flush_recorder() -> None:
    from usage.state import recorder

    await recorder.aclose()
