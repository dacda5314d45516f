"""The QuickBooks Desktop flow: orders from the flow's source become QuickBooks invoices or journal entries.

It is made of small modules, imported in this order (none imports a later one, nor this one):

    company.py   the company file: its time zone, the flows and records that target the connection
    links.py     cached ListIDs of QuickBooks customers and items (Links)
    inventory.py reconciliation of QuantityOnHand, the full item sync, the push to the source after it
    chain.py     per-order chains of qbXML jobs: lookups, then InvoiceAdd or JournalEntryAdd
    sync.py      incremental sync of customers, items and invoices changed or deleted in QuickBooks
    checks.py    per Web Connector run: the due sync and the deleted-transactions check
    lists.py     QuickBooks' payment methods and deposit accounts, for the sales receipt options

This module names the preset and registers the job handlers; `queue_item_sync` and the item page size
are re-exported for the benchmark and the receive-size test.
"""

from __future__ import annotations

from integrations.qbdesktop import chain, checks, inventory, jobs, lists
from integrations.qbdesktop.inventory import H_ITEM_SYNC, ITEM_SYNC_PAGE_SIZE, queue_item_sync

__all__ = ["H_ITEM_SYNC", "ITEM_SYNC_PAGE_SIZE", "PRESET", "queue_item_sync", "register_handlers"]

PRESET = "qbdesktop_shipstation"


def register_handlers() -> None:
    for handlers in (chain.HANDLERS, checks.HANDLERS, inventory.HANDLERS, lists.HANDLERS):
        for name, handler in handlers.items():
            jobs.register_handler(name, handler)
