"""`manage.py demo`: a QuickBooks Desktop connection ready for the Web Connector simulator."""

from __future__ import annotations

from django.db import transaction

from connector.models import Connection
from integrations.qbdesktop import qwc
from integrations.qbdesktop.auth import create_user, regenerate_password
from integrations.qbdesktop.jobs import SYSTEM
from integrations.qbdesktop.models import QBWCUser

DEMO_LABEL = "Demo company file (simulated)"


def demo_setup(organization, user) -> dict:
    with transaction.atomic():
        connection, _created = Connection.objects.get_or_create(
            organization=organization,
            system=SYSTEM,
            label=DEMO_LABEL,
            defaults={"settings": {"time_zone": "America/New_York", "run_every_minutes": 5}},
        )
        qbwc_user = QBWCUser.objects.filter(connection=connection).first()
        if qbwc_user is None:
            qbwc_user, password = create_user(connection)
        else:
            password = regenerate_password(qbwc_user)  # the plaintext is never kept: make a new one
    return {
        "connection": connection.pk,
        "service_url": qwc.service_url(),
        "qbwc_user": qbwc_user.username,
        "qbwc_password": password,
        "simulate": f"python manage.py qbwc_simulate {connection.pk}",
    }
