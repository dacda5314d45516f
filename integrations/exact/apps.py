from django.apps import AppConfig


class ExactConfig(AppConfig):
    name = "integrations.exact"
    label = "exact"
    verbose_name = "Exact Online"

    def ready(self) -> None:
        from connector.registry import AuthKind, Role, SystemInfo, register_system
        from integrations.exact.adapter import ExactSource, ExactTarget
        from integrations.exact.demo import demo_setup

        register_system(
            SystemInfo(
                key="exact",
                name="Exact Online",
                auth_kind=AuthKind.OAUTH2,
                role=Role.ACCOUNTING,
                description="Sales orders out, shipping costs into the general ledger.",
                logo="img/systems/exact.svg",
                connect_url_name="exact_connect",
                connection_url_name="exact_connection",
                docs=(
                    "Choose your Exact country and company when connecting. Sales orders (changed since the last "
                    "poll) become orders elsewhere; shipment costs post as a balanced general journal entry, split "
                    "over the order lines pro rata, with the cost centre of each line's project. Exact allows 60 "
                    "calls a minute and 5,000 a day per company, shared by all flows."
                ),
                demo_setup=demo_setup,
                source_adapter=ExactSource,
                target_adapter=ExactTarget,
            )
        )
