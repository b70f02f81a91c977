from django.apps import AppConfig


class ApiKeysConfig(AppConfig):
    name = "apikeys"
    verbose_name = "Gateway keys"

    def ready(self) -> None:
        from apikeys import signals

        signals.connect()
