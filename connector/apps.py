from django.apps import AppConfig


class ConnectorConfig(AppConfig):
    name = "connector"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from connector import checks  # noqa: F401 (registers the deployment checks)
