"""A QuickBooks Web Connector simulator: plays the real client's call sequence over HTTP.

Built with zeep from Intuit's WSDL (tests/specs/qbdesktop/QBWebConnectorSvc.wsdl, copied beside this
module), so it speaks exactly the operations and parameter names a real Web Connector uses. The
sequence follows QBWC.md §1 and the captured sessions: serverVersion → clientVersion → authenticate →
(QuickBooks opened; or connectionError) → sendRequestXML (first call carries strHCPResponse) →
receiveResponseXML → ... → closeConnection, with getLastError after "" or a negative percentage. When the simulated company is slower than its
`time_limit`, the run just stops mid-request, like a Web Connector that timed out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from zeep import Client, Settings
from zeep.transports import Transport

from integrations.qbdesktop.sandbox.company import SimulatedCompany, SimulatedHResult, SimulatedTimeout

WSDL_PATH = Path(__file__).with_name("QBWebConnectorSvc.wsdl")
BINDING = "{http://developer.intuit.com/}QBWebConnectorSvcSoap"
CLIENT_VERSION = "2.3.0.215"
COMPANY_FILE = r"C:\Users\Public\Documents\Intuit\QuickBooks\Sandbox Company.QBW"


@dataclass
class RunLog:
    """What happened in one simulated Web Connector run."""

    calls: list[tuple[str, object]] = field(default_factory=list)  # (method, result)
    ticket: str = ""
    auth_status: str = ""
    percentages: list[int] = field(default_factory=list)
    requests_sent: int = 0
    last_error: str = ""
    close_message: str = ""
    timed_out: bool = False  # QuickBooks was too slow: the run ended without an answer or closeConnection

    @property
    def methods(self) -> list[str]:
        return [name for name, _result in self.calls]


def strings(result) -> list[str]:
    """zeep unwraps ArrayOfString into a plain list; older versions give an object with `.string`."""
    if result is None:
        return []
    values = result if isinstance(result, list) else list(getattr(result, "string", None) or [])
    return [v or "" for v in values]


def make_service(base_url: str, *, timeout: float = 30.0, session: requests.Session | None = None):
    transport = Transport(session=session or requests.Session(), timeout=timeout, operation_timeout=timeout)
    client = Client(str(WSDL_PATH), transport=transport, settings=Settings(strict=True))
    return client.create_service(BINDING, base_url.rstrip("/") + "/qbwc/")


class WebConnectorSimulator:
    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        company: SimulatedCompany,
        *,
        owner_id: str = "",
        file_id: str = "",
        qbxml_major: int = 13,
        qbxml_minor: int = 0,
        max_calls: int = 5000,
        noop_pause: float = 0.0,
    ):
        self.service = make_service(base_url)
        self.username = username
        self.password = password
        self.company = company
        self.owner_id = owner_id
        self.file_id = file_id
        self.qbxml_major = qbxml_major
        self.qbxml_minor = qbxml_minor
        self.max_calls = max_calls
        self.noop_pause = noop_pause

    def _call(self, log: RunLog, name: str, *args):
        result = getattr(self.service, name)(*args)
        log.calls.append((name, result))
        return result

    def run(self) -> RunLog:
        log = RunLog()
        svc = self._call
        svc(log, "serverVersion")
        answer = svc(log, "clientVersion", CLIENT_VERSION) or ""
        if answer.startswith(("E:", "O:")):
            log.last_error = answer
            return log
        auth = svc(log, "authenticate", self.username, self.password)
        values = strings(auth) + ["", ""]
        log.ticket, log.auth_status = values[0] or "", values[1] or ""
        if log.auth_status in ("nvu", "none", "busy"):
            log.close_message = svc(log, "closeConnection", log.ticket)
            return log
        if self.company.unavailable:
            svc(log, "connectionError", log.ticket, "0x80040401", "Could not access QuickBooks.")
            return log
        if self.owner_id and self.file_id:
            self.company.register_file(self.owner_id, self.file_id)
        self.company.open_session()
        hcp = self.company.host_response(self.owner_id)
        first = True
        while len(log.calls) < self.max_calls:
            request = svc(
                log,
                "sendRequestXML",
                log.ticket,
                hcp if first else "",
                COMPANY_FILE,
                "US",
                self.qbxml_major,
                self.qbxml_minor,
            )
            first = False
            if not request:
                log.last_error = svc(log, "getLastError", log.ticket) or ""
                if log.last_error == "NoOp":
                    time.sleep(self.noop_pause)
                    continue
                break
            if request == "NoOp":
                time.sleep(self.noop_pause)
                continue
            log.requests_sent += 1
            try:
                response, hresult, message = self.company.process(request), "", ""
            except SimulatedHResult as exc:
                response, hresult, message = "", exc.code, exc.message
            except SimulatedTimeout as exc:
                # The real client gives up and shows the error; the server never hears of this run
                # again (no receiveResponseXML, no closeConnection) until the next authenticate.
                log.timed_out, log.last_error = True, str(exc)
                return log
            percent = svc(log, "receiveResponseXML", log.ticket, response, hresult, message)
            log.percentages.append(percent)
            if percent < 0:
                log.last_error = svc(log, "getLastError", log.ticket) or ""
                break
            if percent >= 100:
                break
        log.close_message = svc(log, "closeConnection", log.ticket)
        return log
