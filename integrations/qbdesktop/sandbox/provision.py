"""An organisation's own simulated QuickBooks company file, on demand.

The company file answers qbXML inside the Web Connector simulator (`manage.py qbwc_simulate`); what
is made here is the organisation's QuickBooks Desktop connection with its Web Connector login, and
the sandbox row tying the two. The Web Connector password is only ever stored hashed, so every call
makes a new one and answers it (the demo prints it; the Try button shows it once).
"""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect

from connector.models import Connection
from connector.sandbox.pages import AccountCard, home_view, try_view
from integrations.qbdesktop import qwc
from integrations.qbdesktop.auth import create_user, regenerate_password
from integrations.qbdesktop.jobs import SYSTEM
from integrations.qbdesktop.models import QBWCUser
from integrations.qbdesktop.sandbox.models import SandboxQBDCompany

LABEL = "Demo company file (simulated)"


def company_for(organization) -> SandboxQBDCompany:
    """The organisation's simulated company file with a live connection and Web Connector login."""
    with transaction.atomic():
        company = SandboxQBDCompany.objects.for_org(organization).order_by("id").first()
        connection = company.connection if company else None
        if connection is None or connection.status == Connection.Status.DISABLED:
            connection = Connection.objects.create(
                organization=organization,
                system=SYSTEM,
                label=LABEL,
                settings={"time_zone": "America/New_York", "run_every_minutes": 5},
            )
            if company is None:
                company = SandboxQBDCompany.objects.create(organization=organization, connection=connection)
            else:
                company.connection = connection
                company.save(update_fields=["connection"])
        return company


def login_for(company: SandboxQBDCompany) -> tuple[QBWCUser, str]:
    """The connection's Web Connector login with a fresh password (the old one is never kept)."""
    user = QBWCUser.objects.filter(connection=company.connection).first()
    if user is None:
        return create_user(company.connection)
    return user, regenerate_password(user)


def facts(company: SandboxQBDCompany, user: QBWCUser, password: str) -> dict:
    return {
        "connection": company.connection_id,
        "connection_id": company.connection_id,
        "service_url": qwc.service_url(),
        "qbwc_user": user.username,
        "qbwc_password": password,
        "simulate": f"python manage.py qbwc_simulate {company.connection_id}",
    }


def provision(organization, user) -> dict:
    company = company_for(organization)
    qbwc_user, password = login_for(company)
    return facts(company, qbwc_user, password)


def _try(request):
    company = company_for(request.organization)
    qbwc_user, password = login_for(company)
    messages.success(
        request,
        f"Simulated QuickBooks company file connected. Web Connector user {qbwc_user.username}, "
        f"password {password} (shown once).",
    )
    return redirect("qbdesktop_detail", pk=company.connection_id)


try_view = try_view(_try)


def _card(company: SandboxQBDCompany) -> AccountCard:
    user = QBWCUser.objects.filter(connection=company.connection).first() if company.connection else None
    return AccountCard(
        company.name,
        [
            ("Web Connector URL", qwc.service_url()),
            ("Web Connector user", user.username if user else "—"),
            ("Simulate a Web Connector run", f"python manage.py qbwc_simulate {company.connection_id}"),
        ],
    )


home = home_view(
    "qbdesktop",
    lambda org: SandboxQBDCompany.objects.for_org(org).select_related("connection"),
    _card,
    intro="Passwords are stored hashed: connecting again shows a new one once.",
)
