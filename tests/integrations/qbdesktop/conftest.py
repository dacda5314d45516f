"""Helpers for the QuickBooks Desktop tests: a connection with its Web Connector user, the simulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.models import Connection, Flow
from integrations.qbdesktop.auth import create_user
from integrations.qbdesktop.sandbox.client import WebConnectorSimulator
from integrations.qbdesktop.sandbox.company import SimulatedCompany

FIXTURES = Path(__file__).with_name("fixtures")


def make_qbd_connection(org, label: str = "Main company file"):
    connection = Connection.objects.create(
        organization=org,
        system="qbdesktop",
        label=label,
        settings={"time_zone": "America/New_York", "run_every_minutes": 5},
    )
    user, password = create_user(connection)
    return connection, user, password


@pytest.fixture
def qbd(alice):
    return make_qbd_connection(alice.org)


@pytest.fixture
def company():
    company = SimulatedCompany("Alice Ltd books", seed=7)
    company.add_customer("Acme Ltd", email="ap@acme.test")
    company.add_customer("Globex", email="billing@globex.test")
    company.add_item("WIDGET-1", price="12.50", quantity_on_hand="40")
    company.add_item("GADGET-2", price="99.00", quantity_on_hand="3")
    company.add_item("Shipping", item_type="ItemService", price="0", quantity_on_hand=None)
    return company


@pytest.fixture
def books(company):
    company.add_item("Discount", item_type="ItemOtherCharge", quantity_on_hand=None)
    company.add_item("Sales Tax", item_type="ItemOtherCharge", quantity_on_hand=None)
    return company


@pytest.fixture
def qbd_flow_(alice, qbd):
    source = Connection.objects.create(organization=alice.org, system="shipstation", label="Store")
    return Flow.objects.create(organization=alice.org, preset="qbdesktop_shipstation", source=source, target=qbd[0])


def simulator(live_server, qbd, company, **kwargs) -> WebConnectorSimulator:
    _connection, user, password = qbd
    kwargs.setdefault("owner_id", user.owner_id)
    kwargs.setdefault("file_id", user.file_id)
    return WebConnectorSimulator(live_server.url, user.username, password, company, **kwargs)
