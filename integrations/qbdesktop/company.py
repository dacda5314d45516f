"""The QuickBooks company file behind a connection: its time zone, and the flows that write to it.

A flow belongs to a QuickBooks Desktop connection because the connection is its target, whatever the
flow's source is: nothing here filters on a preset, so any order source can feed QuickBooks Desktop.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.db.models import QuerySet

from connector.models import Connection, Flow, Record
from connector.registry import RegistryError, get_system


def company_tz(connection: Connection) -> ZoneInfo:
    """The QuickBooks PC's zone: QuickBooks reads and writes date-times without offset in it."""
    return ZoneInfo(connection.settings.get("time_zone") or "UTC")


def target_flows(connection: Connection) -> QuerySet[Flow]:
    """The flows that write to this QuickBooks company file."""
    return Flow.objects.filter(target=connection)


def target_records(connection: Connection) -> QuerySet[Record]:
    """The records of those flows."""
    return Record.objects.filter(flow__target=connection)


def _system_name(key: str) -> str:
    try:
        return get_system(key).name
    except RegistryError:
        return key


def source_name(flow: Flow) -> str:
    """The flow's source as merchants know it (its system's name), for messages about one record."""
    return _system_name(flow.source.system)


def source_names(connection: Connection) -> str:
    """The sources of the flows into this connection ("<one> or <another>"), for messages about the
    company file as a whole."""
    systems = sorted(set(target_flows(connection).values_list("source__system", flat=True)))
    return " or ".join(_system_name(key) for key in systems) or "the order source"
