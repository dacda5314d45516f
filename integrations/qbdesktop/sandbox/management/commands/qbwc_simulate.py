"""Play one Web Connector run against /qbwc/ with a simulated company file (sandbox mode only).

The company file's transactions are kept on the organisation's SandboxQBDCompany between runs, so what
a run wrote is answered by the next run's queries. Before the run, a bookkeeper's hand edits can be
made by RefNumber (what reconciliation finds): `--set-amount 1001=16.00`, `--delete 1002`,
`--duplicate 1003`, `--add-invoice 1999=15.04` (an invoice entered by hand today)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from connector.models import Connection
from integrations.qbdesktop.auth import regenerate_password
from integrations.qbdesktop.models import QBWCUser
from integrations.qbdesktop.sandbox.client import WebConnectorSimulator
from integrations.qbdesktop.sandbox.company import SimulatedCompany
from integrations.qbdesktop.sandbox.models import SandboxQBDCompany


def demo_company() -> SimulatedCompany:
    company = SimulatedCompany("Demo company (simulated)")
    for name, email in (("Acme Ltd", "ap@acme.test"), ("Globex", "billing@globex.test")):
        company.add_customer(name, email=email)
    company.add_item("WIDGET-1", price="12.50", quantity_on_hand="40")
    company.add_item("GADGET-2", price="99.00", quantity_on_hand="3")
    company.add_item("Shipping", item_type="ItemService", quantity_on_hand=None)
    return company


def _pair(text: str) -> tuple[str, str]:
    ref, sep, amount = text.partition("=")
    if not sep or not ref or not amount:
        raise ValueError(f"{text!r} is not REF=AMOUNT")
    return ref, amount


def hand_edits(company: SimulatedCompany, options: dict) -> None:
    """What a bookkeeper changed in QuickBooks since the last run, by RefNumber."""
    txn_type = "JournalEntry" if options.get("journal") else "Invoice"
    for text in options.get("set_amount") or []:
        ref, amount = _pair(text)
        company.set_txn_amount(company.txn_by_ref(ref, txn_type).txn_id, str(Decimal(amount)))
    for ref in options.get("delete") or []:
        company.delete_txn(company.txn_by_ref(ref, txn_type).txn_id)
    for ref in options.get("duplicate") or []:
        company.duplicate_txn(company.txn_by_ref(ref, txn_type).txn_id)
    for text in options.get("add_invoice") or []:
        ref, amount = _pair(text)
        company.add_invoice(ref, timezone.now().date().isoformat(), str(Decimal(amount)))


class Command(BaseCommand):
    help = "Run the QuickBooks Web Connector simulator once against this server's /qbwc/ endpoint."

    def add_arguments(self, parser):
        parser.add_argument("connection", type=int, help="id of the QuickBooks Desktop connection")
        parser.add_argument("--url", default=settings.PUBLIC_BASE_URL, help="server base URL")
        parser.add_argument("--password", help="the Web Connector password (default: make a new one)")
        parser.add_argument("--set-amount", action="append", default=[], metavar="REF=AMOUNT")
        parser.add_argument("--delete", action="append", default=[], metavar="REF")
        parser.add_argument("--duplicate", action="append", default=[], metavar="REF")
        parser.add_argument("--add-invoice", action="append", default=[], metavar="REF=AMOUNT")
        parser.add_argument("--journal", action="store_true", help="hand edits act on journal entries")

    def handle(self, *args, **options):
        if not settings.SANDBOX_ENABLED:
            raise CommandError("The Web Connector simulator runs only with SANDBOX_ENABLED.")
        connection = Connection.objects.filter(pk=options["connection"], system="qbdesktop").first()
        if connection is None:
            raise CommandError("No QuickBooks Desktop connection with that id.")
        user = QBWCUser.objects.get(connection=connection)
        password = options["password"] or regenerate_password(user)
        company = demo_company()
        kept = SandboxQBDCompany.objects.filter(connection=connection).first()
        if kept is not None:
            company.restore_txns(kept.transactions)
        try:
            hand_edits(company, options)
        except (KeyError, ValueError, InvalidOperation) as exc:
            raise CommandError(f"Cannot make that hand edit: {exc}") from None
        simulator = WebConnectorSimulator(
            options["url"], user.username, password, company, owner_id=user.owner_id, file_id=user.file_id
        )
        log = simulator.run()
        if kept is not None:
            kept.transactions = company.export_txns()
            kept.save(update_fields=["transactions"])
        self.stdout.write(f"authenticate: {log.auth_status or 'work waiting'}; requests: {log.requests_sent}")
        self.stdout.write(f"progress: {log.percentages}; close: {log.close_message}")
        if log.last_error:
            self.stdout.write(self.style.WARNING(f"last error: {log.last_error}"))
