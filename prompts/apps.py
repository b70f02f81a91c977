from django.apps import AppConfig


class PromptsConfig(AppConfig):
    name = "prompts"

    def ready(self) -> None:
        from prompts import signals

        signals.connect()
