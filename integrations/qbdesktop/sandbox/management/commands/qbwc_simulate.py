"""Play one Web Connector run against /qbwc/ with a simulated company file (sandbox mode only)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from connector.models import Connection
from integrations.qbdesktop.auth import regenerate_password
from integrations.qbdesktop.models import QBWCUser
from integrations.qbdesktop.sandbox.client import WebConnectorSimulator
from integrations.qbdesktop.sandbox.company import SimulatedCompany


def demo_company() -> SimulatedCompany:
    company = SimulatedCompany("Demo company (simulated)")
    for name, email in (("Acme Ltd", "ap@acme.test"), ("Globex", "billing@globex.test")):
        company.add_customer(name, email=email)
    company.add_item("WIDGET-1", price="12.50", quantity_on_hand="40")
    company.add_item("GADGET-2", price="99.00", quantity_on_hand="3")
    company.add_item("Shipping", item_type="ItemService", quantity_on_hand=None)
    return company


class Command(BaseCommand):
    help = "Run the QuickBooks Web Connector simulator once against this server's /qbwc/ endpoint."

    def add_arguments(self, parser):
        parser.add_argument("connection", type=int, help="id of the QuickBooks Desktop connection")
        parser.add_argument("--url", default=settings.PUBLIC_BASE_URL, help="server base URL")
        parser.add_argument("--password", help="the Web Connector password (default: make a new one)")

    def handle(self, *args, **options):
        if not settings.SANDBOX_ENABLED:
            raise CommandError("The Web Connector simulator runs only with SANDBOX_ENABLED.")
        connection = Connection.objects.filter(pk=options["connection"], system="qbdesktop").first()
        if connection is None:
            raise CommandError("No QuickBooks Desktop connection with that id.")
        user = QBWCUser.objects.get(connection=connection)
        password = options["password"] or regenerate_password(user)
        simulator = WebConnectorSimulator(
            options["url"], user.username, password, demo_company(), owner_id=user.owner_id, file_id=user.file_id
        )
        log = simulator.run()
        self.stdout.write(f"authenticate: {log.auth_status or 'work waiting'}; requests: {log.requests_sent}")
        self.stdout.write(f"progress: {log.percentages}; close: {log.close_message}")
        if log.last_error:
            self.stdout.write(self.style.WARNING(f"last error: {log.last_error}"))
