from django.apps import AppConfig


class QBDesktopConfig(AppConfig):
    name = "integrations.qbdesktop"
    label = "qbdesktop"
    verbose_name = "QuickBooks Desktop"

    def ready(self) -> None:
        from connector.registry import register_preset, register_system
        from integrations.qbdesktop import flow, reconcile, sync

        register_system(_system_info())
        register_preset(_shipstation_preset())
        register_preset(_woocommerce_preset())
        flow.register_handlers()
        sync.register_handlers()
        reconcile.register_handlers()


def _system_info():
    from connector.registry import AuthKind, Role, SystemInfo
    from integrations.qbdesktop.adapter import QBDesktopTarget
    from integrations.qbdesktop.reconcile import list_documents

    return SystemInfo(
        key="qbdesktop",
        name="QuickBooks Desktop",
        auth_kind=AuthKind.QBWC,
        role=Role.ACCOUNTING,
        description="Invoices and journal entries through the QuickBooks Web Connector.",
        logo="img/systems/qbdesktop.svg",
        connect_url_name="qbdesktop_connect",
        connection_url_name="qbdesktop_detail",
        docs=(
            "Your money: shipped orders become QuickBooks invoices (or journal entries), dated on the "
            "ship date and numbered with the order number, so nothing is entered twice.\n"
            "From WooCommerce: paid orders become invoices or sales receipts (as you choose), each refund "
            "a credit memo numbered after its order, and QuickBooks' stock can be set back on your products.\n"
            "Your books stay yours: customers and items are looked up, never created; an order naming "
            "an unknown one waits for you with a clear note, while the others carry on.\n"
            "Timing: QuickBooks Desktop is reached through the Web Connector on your computer, so "
            "changes arrive each time it runs (every 15 minutes by default)."
        ),
        target_adapter=QBDesktopTarget,
        reconcile_documents=list_documents,
        # Web Connector work has its own queue: a slow QuickBooks cannot hold up other syncs.
        task_routes=(("integrations.qbdesktop.*", "qbwc"),),
    )


LOOKED_UP = (
    "Customers and items must already exist in QuickBooks{sku}; a missing one puts the order in review. "
    "Deleted QuickBooks transactions and stock differences are shown."
)


def _orders_preset(key: str, source_system: str, name: str, when: str, **extra):
    """A ready-made pairing of an order source with QuickBooks Desktop. Nothing in the app depends on
    one: flows keyed on this connection as their target take orders from any source (company.py)."""
    from connector.registry import FlowPreset

    return FlowPreset(
        key=key,
        name=name,
        source_system=source_system,
        target_system="qbdesktop",
        capabilities=(("order", "invoice"),),
        description=f"{when} RefNumber = order number. " + LOOKED_UP.format(sku=extra.pop("sku_note", "")),
        options_form="integrations.qbdesktop.forms.FlowOptionsForm",
        **extra,
    )


def _shipstation_preset():
    from integrations.qbdesktop import flow

    return _orders_preset(
        flow.PRESET,
        "shipstation",
        "ShipStation → QuickBooks Desktop",
        "Shipped orders become QuickBooks invoices (or journal entries) dated on the ship date,",
        default_options={"posting": "invoice", "list_sync_minutes": 60},
    )


def _woocommerce_preset():
    """Invoiced once paid (WooCommerce "processing") by default, or when completed; WooCommerce never
    retries a webhook, so a poll every 15 minutes catches what one missed."""
    return _orders_preset(
        "woocommerce_qbdesktop",
        "woocommerce",
        "WooCommerce → QuickBooks Desktop",
        "Paid orders become QuickBooks invoices (or sales receipts or journal entries), each refund a credit memo,",
        sku_note=" (item name = WooCommerce SKU)",
        default_options={"posting": "invoice", "post_when": "paid", "refund_item": "Refunds", "list_sync_minutes": 60},
        default_interval_seconds=900,
    )
