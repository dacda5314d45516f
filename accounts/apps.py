from django.apps import AppConfig
from django.db.models.signals import post_save


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.notifications import on_alert_saved

        post_save.connect(on_alert_saved, sender="connector.Alert", dispatch_uid="accounts.needs_review_mail")
