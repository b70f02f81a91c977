from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"

    def ready(self) -> None:
        from core import lifecycle

        lifecycle.on_startup(_start_recorder)
        lifecycle.on_shutdown(_flush_recorder, stage=lifecycle.FLUSH)


def _start_recorder() -> None:
    """In the background, it first replays the usage journals of killed processes."""
    from usage.state import recorder

    recorder.start()


async def _flush_recorder() -> None:
    from usage.state import recorder

    await recorder.aclose()
