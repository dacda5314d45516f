"""The dashboard's onboarding checklist and charts: what a new merchant does next, and how the
organisation's flows have been doing over the last 30 days."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from connector.models import Connection, Flow, Record
from connector.registry import RegistryError, Role, get_system, systems
from connector.web.charts import dashboard_charts

STORE_ROLES = {Role.STORE, Role.SHIPPING}
LEDGER_ROLES = {Role.ACCOUNTING}


def _system_names(roles: set[Role]) -> str:
    """ "A, B or C": the registered systems with one of these roles, as the registry orders them."""
    names = [info.name for info in systems() if info.role in roles]
    return " or ".join(filter(None, [", ".join(names[:-1]), *names[-1:]]))


@dataclass(frozen=True)
class Step:
    title: str
    text: str
    done: bool
    url: str  # where to do it (or, once done, where to see it)
    action: str  # the link's words


def onboarding_steps(
    *, store_connected: bool, ledger_connected: bool, flow_started: bool, first_document_url: str
) -> list[Step]:
    """The four first steps, in order. Pure: the caller looks the facts up."""
    connections, flows = reverse("connections"), reverse("flows")
    return [
        Step(
            "Connect your store",
            f"{_system_names(STORE_ROLES)}: where your orders come from.",
            store_connected,
            connections,
            "Connect a store",
        ),
        Step(
            "Connect your accounting",
            f"{_system_names(LEDGER_ROLES)}: where invoices and costs go.",
            ledger_connected,
            connections,
            "Connect accounting",
        ),
        Step(
            "Start a flow",
            "Choose what moves between the two, then press Start.",
            flow_started,
            flows if flow_started else reverse("flow_create"),
            "Add a flow",
        ),
        Step(
            "See your first document",
            "The first order written to your accounting system appears in the audit log.",
            bool(first_document_url),
            first_document_url or reverse("audit_log"),
            "Open it" if first_document_url else "Open the audit log",
        ),
    ]


def onboarding(org) -> list[Step]:
    """The checklist for `org`, or [] once every step is done (it then leaves the dashboard)."""
    roles = set()
    for system in (
        Connection.objects.for_org(org).filter(status=Connection.Status.ACTIVE).values_list("system", flat=True)
    ):
        try:
            roles.add(get_system(system).role)
        except RegistryError:
            continue
    first = (
        Record.objects.for_org(org)
        .filter(status=Record.Status.SYNCED)
        .exclude(target_id="")
        .order_by("synced_at", "pk")
        .values_list("pk", flat=True)
        .first()
    )
    steps = onboarding_steps(
        store_connected=bool(roles & STORE_ROLES),
        ledger_connected=bool(roles & LEDGER_ROLES),
        flow_started=Flow.objects.for_org(org).filter(enabled=True).exists(),
        first_document_url=reverse("record_detail", args=[first]) if first else "",
    )
    return [] if all(step.done for step in steps) else steps


def dashboard_extras(org) -> dict:
    """What the dashboard shows besides connections, flows and alerts."""
    steps = onboarding(org)
    return {
        "onboarding": steps,
        "onboarding_done": sum(step.done for step in steps),
        **dashboard_charts(org),
    }


def has_work_in_progress(org) -> bool:
    """Records waiting to be written: the dashboard keeps refreshing its flows table until none are."""
    return Record.objects.for_org(org).filter(status=Record.Status.PENDING).exists()
