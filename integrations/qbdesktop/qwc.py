"""The .qwc file the merchant adds to the QuickBooks Web Connector (QBWC.md §3).

AppURL must be https:// except for localhost/machine names in development; AppSupport must be on
the same domain. No password goes into the file: the merchant types it into the Web Connector.
`IsReadOnly` is false because we write; `UnattendedModePref` is umpRequired so syncs can run while
QuickBooks is closed (QBWC.md §3).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.conf import settings
from lxml import etree

from integrations.qbdesktop.models import QBWCUser

APP_NAME = "Connector"
APP_DESCRIPTION = "Syncs your store and shipping orders with QuickBooks Desktop."
DEFAULT_RUN_EVERY_MINUTES = 15


def service_url() -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + "/qbwc/"


def support_url(user: QBWCUser) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + f"/integrations/qbdesktop/{user.connection_id}/"


def url_is_acceptable(url: str) -> bool:
    """QBWC connects only to https, or to http on localhost / a bare machine name (development)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return True
    host = parts.hostname or ""
    return parts.scheme == "http" and (host in ("localhost", "127.0.0.1") or "." not in host)


def build_qwc(user: QBWCUser, *, run_every_minutes: int | None = None) -> bytes:
    """The .qwc XML for this Web Connector user; every value is XML-escaped by lxml."""
    connection = user.connection
    minutes = int(run_every_minutes or connection.settings.get("run_every_minutes") or DEFAULT_RUN_EVERY_MINUTES)
    root = etree.Element("QBWCXML")

    def add(name: str, text: str, parent=root):
        node = etree.SubElement(parent, name)
        node.text = text
        return node

    add("AppName", f"{APP_NAME} - {connection.label}"[:80])
    add("AppID", "")
    add("AppURL", service_url())
    add("AppDescription", APP_DESCRIPTION)
    add("AppSupport", support_url(user))
    add("UserName", user.username)
    add("OwnerID", user.owner_id)
    add("FileID", user.file_id)
    add("QBType", "QBFS")
    scheduler = etree.SubElement(root, "Scheduler")
    add("RunEveryNMinutes", str(max(1, minutes)), scheduler)
    add("IsReadOnly", "false")
    add("UnattendedModePref", "umpRequired")
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


def filename(user: QBWCUser) -> str:
    safe = re.sub(r"[^A-Za-z0-9_]+", "-", user.connection.label).strip("-")[:60]
    return f"{safe or 'quickbooks'}.qwc"
