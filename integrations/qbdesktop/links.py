"""What this connection already knows of QuickBooks' lists: ListIDs of customers and items as Links.

Cached ListIDs spare the Web Connector a lookup per order; the incremental sync (sync.py) keeps them
fresh and a stale one is forgotten when QuickBooks refuses it (chain.on_write, status 3140).
"""

from __future__ import annotations

from connector.models import Connection, Link
from integrations.qbdesktop.models import QBDInventoryLevel

CUSTOMER_LINK = "qbd_customer"
ITEM_LINK = "qbd_item"
INVOICE_LINK = "invoice"  # the engine's Link of a written invoice or journal entry (external id = TxnID)
INVENTORY_ITEM = "ItemInventory"


def _by_name(connection: Connection, link_type: str, names: list[str]):
    return Link.objects.filter(
        connection=connection, object_type=link_type, canonical_key__in=[n.lower() for n in names]
    )


def cached(connection: Connection, link_type: str, names: list[str]) -> dict[str, tuple[str, str]]:
    """lower-cased name -> (FullName, ListID) for names whose ListID we already know."""
    links = _by_name(connection, link_type, names)
    return {link.canonical_key: (link.data.get("full_name") or link.canonical_key, link.external_id) for link in links}


def remember(connection: Connection, link_type: str, full_name: str, list_id: str, data: dict) -> None:
    key = full_name.lower()[:300]
    # A renamed object keeps its ListID: drop its old name first (one Link per ListID).
    Link.objects.filter(connection=connection, object_type=link_type, external_id=list_id).exclude(
        canonical_key=key
    ).delete()
    Link.objects.update_or_create(
        connection=connection,
        object_type=link_type,
        canonical_key=key,
        defaults={"organization_id": connection.organization_id, "external_id": list_id, "data": data},
    )


def forget(connection: Connection, link_type: str, names: list[str]) -> None:
    _by_name(connection, link_type, names).delete()


def forget_ids(connection: Connection, link_type: str, list_ids: list[str]) -> int:
    deleted, _ = Link.objects.filter(connection=connection, object_type=link_type, external_id__in=list_ids).delete()
    return deleted


def inventory_items(connection: Connection, names: list[str]) -> dict[str, str]:
    """lower-cased name -> FullName of the cached items among `names` that are inventory items."""
    return {
        link.canonical_key: link.data.get("full_name") or link.canonical_key
        for link in _by_name(connection, ITEM_LINK, names)
        if link.data.get("item_type") == INVENTORY_ITEM
    }


def without_baseline(connection: Connection, names: list[str]) -> set[str]:
    """Lower-cased names of cached inventory items that QBDInventoryLevel does not track yet."""
    inventory = inventory_items(connection, names)
    if not inventory:
        return set()
    tracked = {
        sku.lower()
        for sku in QBDInventoryLevel.objects.filter(
            connection=connection, sku__in=list(inventory.values())
        ).values_list("sku", flat=True)
    }
    return {key for key, name in inventory.items() if name.lower() not in tracked}


# --- Credit memos of refunds: one Link per refund ---------------------------------------------------

CREDIT_LINK = "qbd_credit_memo"  # key "<order number>/refund/<refund id>", external id = the memo's TxnID


def credit_key(order_number: str, refund_id: str) -> str:
    return f"{order_number}/refund/{refund_id}"


def remember_credit(connection: Connection, order_number: str, refund_id: str, txn_id: str, data: dict) -> None:
    """Written in the transaction that applies QuickBooks' answer: a retry finds it and adds nothing."""
    Link.objects.update_or_create(
        connection=connection,
        object_type=CREDIT_LINK,
        canonical_key=credit_key(order_number, refund_id),
        defaults={"organization_id": connection.organization_id, "external_id": txn_id, "data": data},
    )


def credits_of(connection: Connection, order_number: str) -> dict[str, dict]:
    """refund id -> {"txn_id", "ref_number", "amount"} for the order's refunds QuickBooks already has."""
    prefix = credit_key(order_number, "")
    links = Link.objects.filter(connection=connection, object_type=CREDIT_LINK, canonical_key__startswith=prefix)
    return {link.canonical_key[len(prefix) :]: {**link.data, "txn_id": link.external_id} for link in links}
