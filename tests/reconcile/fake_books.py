"""A store and a ledger that list a period from memory, for the stored-run tests: the ledger can be
told to answer "not ready yet" (as QuickBooks Desktop does until the Web Connector's next run) a
number of times before it lists its documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from connector.models import Connection, Flow
from connector.reconcile import LedgerDocument, LedgerNotReady, Period, SourceOrder
from connector.registry import AuthKind, FlowPreset, Role, SystemInfo, register_preset, register_system

NOT_READY = "QuickBooks answers on the Web Connector's next run (every 60 minutes on the merchant's PC)."


@dataclass
class Books:
    orders: list[SourceOrder] = field(default_factory=list)
    documents: list[LedgerDocument] = field(default_factory=list)
    not_ready: int = 0  # answer LedgerNotReady this many more times
    listings: int = 0

    def reset(self) -> None:
        self.orders, self.documents, self.not_ready, self.listings = [], [], 0, 0


BOOKS = Books()


def list_orders(connection, options: dict, period: Period):
    return [o for o in BOOKS.orders if period.contains(o.date)]


def list_documents(connection, options: dict, period: Period, *, items=("order",)):
    BOOKS.listings += 1
    if BOOKS.not_ready > 0:
        BOOKS.not_ready -= 1
        raise LedgerNotReady(NOT_READY)
    return [d for d in BOOKS.documents if period.contains(d.date)]


def register() -> None:
    register_system(SystemInfo("reconstore", "Recon Store", AuthKind.API_KEY, Role.STORE, reconcile_orders=list_orders))
    register_system(
        SystemInfo("reconledger", "Recon Ledger", AuthKind.API_KEY, Role.ACCOUNTING, reconcile_documents=list_documents)
    )
    register_preset(
        FlowPreset("recon_fake", "Recon Store → Recon Ledger", "reconstore", "reconledger", (("order", "invoice"),))
    )


def make_books_flow(org, **kwargs) -> Flow:
    register()
    source = Connection.objects.create(organization=org, system="reconstore", label="Corner Shop")
    target = Connection.objects.create(organization=org, system="reconledger", label="Ledger Books")
    return Flow.objects.create(
        organization=org, preset="recon_fake", name="Shop → Books", source=source, target=target, **kwargs
    )


def order(number: str, day: date, amount: str = "10.00") -> SourceOrder:
    return SourceOrder(source_id=f"s-{number}", reference=number, amount=Decimal(amount), currency="USD", date=day)


def invoice(number: str, day: date, amount: str = "10.00") -> LedgerDocument:
    return LedgerDocument(
        kind="invoice",
        document_id=f"d-{number}",
        number=f"INV-{number}",
        reference=number,
        amount=Decimal(amount),
        currency="USD",
        date=day,
    )


def seed(day: date, *, matched: int = 0, missing: int = 0, differs: int = 0) -> None:
    """Orders of `day`: `matched` booked right, `missing` not booked, `differs` booked a cent off."""
    n = len(BOOKS.orders)
    for i in range(matched + missing + differs):
        number = f"{1000 + n + i}"
        BOOKS.orders.append(order(number, day))
        if i < matched:
            BOOKS.documents.append(invoice(number, day))
        elif i >= matched + missing:
            BOOKS.documents.append(invoice(number, day, "10.01"))
