from django.apps import AppConfig


class StoredResponsesConfig(AppConfig):
    name = "stored_responses"
    verbose_name = "Stored responses"
