from django.apps import AppConfig


class ConnectorConfig(AppConfig):
    name = "connector"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from connector.presets import register_presets

        register_presets()
