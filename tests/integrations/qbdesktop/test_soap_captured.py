"""The real Web Connector's captured requests, posted byte for byte with their headers.

Fixtures come from tests/specs/qbdesktop/captured-envelopes.md (QBWC 2.0.0.116, session B, and the
captured 3100 response); their sha256 is checked so nobody "fixes" them. Only the Host header is
changed (to the live server). The client waits for `100 Continue` before sending the body, as .NET does.
"""

from __future__ import annotations

import hashlib
import socket
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.hashers import make_password
from lxml import etree

from integrations.qbdesktop import jobs, qbxml
from integrations.qbdesktop.models import QBWCSession, QBWCUser, QBXMLJob, ticket_digest
from integrations.qbdesktop.service import UNKNOWN_TICKET

from .conftest import FIXTURES, make_qbd_connection

NS = "{http://developer.intuit.com/}"
SOAP = "{http://schemas.xmlsoap.org/soap/envelope/}"
CAPTURED_TICKET = "ea0bf596246b623664adb465cc8662a2"
SHA256 = {
    "B1_serverVersion": "e36ed1854885e538f91609cf4a5348c1fe99c44f91d95108f4383292435cea8d",
    "B2_clientVersion": "f7452cdf574882d2383639dbabe75e7670b40dad7b1f9383ef185ad69cccaafe",
    "B3_authenticate": "1b7de8343b93a5d11141f446cffd7e2945969d6f750ca091cdf4b6815198527e",
    "B4_sendRequestXML": "24bdcfaccf3c346d171654ed6fb62b8f8b911ef2ab084a5801a39a61e18b6595",
    "B5_receiveResponseXML": "03118ab260eca64bb9a244fa0f7e7ce058cd9bf6b3117a08d5efbb2a9a2e29e5",
    "B6_sendRequestXML": "12532ab3ed101eb755325331f4fdef515453f8431f54d52f247a212108a56a19",
    "B7_getLastError": "8537d6bd21358f889c5127b9e58dcaadbacaa637597d70061a15bb230685d684",
    "B8_closeConnection": "a8064baf35d28cdcc8ef83be23ca3c8b2d9e5b8f610b36e5df88b602d8730f8a",
}


def _read_until(sock: socket.socket, marker: bytes, buffer: bytes = b"") -> tuple[bytes, bytes]:
    while marker not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before {marker!r}: {buffer[:200]!r}")
        buffer += chunk
    head, _, rest = buffer.partition(marker)
    return head, rest


def post_captured(live_server, name: str, body: bytes | None = None) -> tuple[int, dict, bytes]:
    """POST like .NET: headers with Expect: 100-continue, wait for the interim 100, then the body."""
    body = body if body is not None else (FIXTURES / f"{name}.xml").read_bytes()
    parts = urlsplit(live_server.url)
    lines = [
        f"Host: {parts.hostname}:{parts.port}" if line.startswith("Host:") else line
        for line in (FIXTURES / f"{name}.headers").read_text().splitlines()
        if line
    ]
    lines = [f"Content-Length: {len(body)}" if line.startswith("Content-Length:") else line for line in lines]
    head = "POST /qbwc/ HTTP/1.1\r\n" + "\r\n".join(lines) + "\r\nConnection: close\r\n\r\n"
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head.encode("ascii"))
        interim, rest = _read_until(sock, b"\r\n\r\n")
        assert interim.startswith(b"HTTP/1.1 100"), interim
        sock.sendall(body)
        status_head, rest = _read_until(sock, b"\r\n\r\n", rest)
        status_line, *header_lines = status_head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
        length = int(headers["content-length"])
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    return int(status_line.split()[1]), headers, rest[:length]


def result_of(content: bytes, method: str):
    root = etree.fromstring(content)
    assert root.tag == f"{SOAP}Envelope"
    result = root.find(f"{SOAP}Body/{NS}{method}Response/{NS}{method}Result")
    assert result is not None, content[:500]
    return result


def test_fixtures_are_the_captured_bytes():
    for name, digest in SHA256.items():
        assert hashlib.sha256((FIXTURES / f"{name}.xml").read_bytes()).hexdigest() == digest, name


@pytest.fixture
def captured_user(alice):
    """The captured session logs in as api/password."""
    connection, user, _password = make_qbd_connection(alice.org)
    QBWCUser.objects.filter(pk=user.pk).update(username="api", password_hash=make_password("password"))
    return connection


@pytest.mark.django_db(transaction=True)
def test_captured_session_b_is_answered(live_server, captured_user):
    connection = captured_user
    job = jobs.enqueue(connection, qbxml.customer_query(full_names=["Shannon 171 Daniels"]))

    status, headers, content = post_captured(live_server, "B1_serverVersion")
    assert status == 200 and headers["content-type"].startswith("text/xml")
    assert result_of(content, "serverVersion").text

    status, _h, content = post_captured(live_server, "B2_clientVersion")
    assert status == 200 and (result_of(content, "clientVersion").text or "") == ""

    status, _h, content = post_captured(live_server, "B3_authenticate")
    strings = [s.text or "" for s in result_of(content, "authenticate").findall(f"{NS}string")]
    assert status == 200 and len(strings) == 2
    assert len(strings[0]) == 64 and strings[1] == ""  # a fresh ticket; "" = work waiting, use the open file
    assert QBWCSession.objects.get(ticket_hash=ticket_digest(strings[0])).connection == connection

    # B4-B8 carry the captured ticket: give it a live session of this connection, then replay as-is.
    QBWCSession.objects.filter(connection=connection).delete()
    from datetime import timedelta

    from django.utils import timezone

    QBWCSession.objects.create(
        organization=connection.organization,
        connection=connection,
        ticket_hash=ticket_digest(CAPTURED_TICKET),
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    status, _h, content = post_captured(live_server, "B4_sendRequestXML")
    request_text = result_of(content, "sendRequestXML").text
    assert status == 200
    assert '<?qbxml version="5.0"?>' in request_text  # QuickBooks Pro 2006 supports up to 5.0 (its HCP)
    rq = etree.fromstring(request_text.split("?>", 2)[2].encode()).find("QBXMLMsgsRq/CustomerQueryRq")
    assert rq.get("requestID") == str(job.pk) and rq.findtext("FullName") == "Shannon 171 Daniels"
    job.refresh_from_db()
    assert job.status == QBXMLJob.Status.SENT

    # B5 answers a CustomerAdd with another server's requestID: refused, and the run ends with -1.
    status, _h, content = post_captured(live_server, "B5_receiveResponseXML")
    assert status == 200 and result_of(content, "receiveResponseXML").text == "-1"
    job.refresh_from_db()
    assert job.status == QBXMLJob.Status.ERROR and "does not answer" in job.status_message

    status, _h, content = post_captured(live_server, "B6_sendRequestXML")
    assert status == 200 and (result_of(content, "sendRequestXML").text or "") == ""  # nothing left

    status, _h, content = post_captured(live_server, "B7_getLastError")
    assert status == 200 and "does not answer the request" in result_of(content, "getLastError").text

    status, _h, content = post_captured(live_server, "B8_closeConnection")
    assert status == 200 and result_of(content, "closeConnection").text.startswith("Finished with an error")
    session = QBWCSession.objects.get(ticket_hash=ticket_digest(CAPTURED_TICKET))
    assert session.closed_at is not None


@pytest.mark.django_db(transaction=True)
def test_captured_authenticate_with_no_work_answers_none(live_server, captured_user):
    status, _h, content = post_captured(live_server, "B3_authenticate")
    strings = [s.text or "" for s in result_of(content, "authenticate").findall(f"{NS}string")]
    assert strings[1] == "none" and strings[0]


@pytest.mark.django_db(transaction=True)
def test_captured_requests_with_an_unknown_ticket(live_server, captured_user):
    """No session for the captured ticket: the documented error path, never a fault or a stack trace."""
    assert result_of(post_captured(live_server, "B6_sendRequestXML")[2], "sendRequestXML").text in (None, "")
    assert result_of(post_captured(live_server, "B5_receiveResponseXML")[2], "receiveResponseXML").text == "-1"
    assert result_of(post_captured(live_server, "B7_getLastError")[2], "getLastError").text == UNKNOWN_TICKET


@pytest.mark.django_db(transaction=True)
def test_captured_3100_response_records_the_failure(live_server, captured_user):
    connection = captured_user
    job = jobs.enqueue(connection, qbxml.customer_query(full_names=["x"]))
    from datetime import timedelta

    from django.utils import timezone

    session = QBWCSession.objects.create(
        organization=connection.organization,
        connection=connection,
        ticket_hash=ticket_digest("7fe1d3dccd44d65f2f3d85a077f1705f"),
        expires_at=timezone.now() + timedelta(minutes=5),
        state=QBWCSession.State.WAITING_RESPONSE,
        current_job=job,
    )
    QBXMLJob.objects.filter(pk=job.pk).update(status=QBXMLJob.Status.SENT, session=session)
    status, _h, content = post_captured(
        live_server, "B5_receiveResponseXML", (FIXTURES / "receiveResponseXML_3100.xml").read_bytes()
    )
    assert status == 200 and result_of(content, "receiveResponseXML").text == "-1"
    job.refresh_from_db()
    assert job.status == QBXMLJob.Status.ERROR  # the answer names another request: nothing is applied


@pytest.mark.django_db
def test_wsdl_lists_intuits_operations(client):
    response = client.get("/qbwc/?wsdl")
    assert response.status_code == 200
    root = etree.fromstring(response.content)
    wsdl = "{http://schemas.xmlsoap.org/wsdl/}"
    assert root.get("targetNamespace") == "http://developer.intuit.com/"
    ours = {op.get("name") for op in root.iter(f"{wsdl}operation")}
    intuit = etree.parse(
        str(FIXTURES.parent.parent.parent.parent / "integrations/qbdesktop/sandbox/QBWebConnectorSvc.wsdl")
    )
    theirs = {op.get("name") for op in intuit.getroot().iter(f"{wsdl}operation")}
    assert ours == theirs
    xs = "{http://www.w3.org/2001/XMLSchema}"
    params = {
        el.get("name"): [c.get("name") for c in el.iter(f"{xs}element")]
        for el in root.iter(f"{xs}complexType")
        if el.get("name") in ("sendRequestXML", "receiveResponseXML", "authenticate")
    }
    assert params["sendRequestXML"] == [
        "ticket",
        "strHCPResponse",
        "strCompanyFileName",
        "qbXMLCountry",
        "qbXMLMajorVers",
        "qbXMLMinorVers",
    ]
    assert params["receiveResponseXML"] == ["ticket", "response", "hresult", "message"]
    assert params["authenticate"] == ["strUserName", "strPassword"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        b"<not xml",
        b'<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b'<dropTables xmlns="http://developer.intuit.com/"/></soap:Body></soap:Envelope>',
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b'<authenticate xmlns="http://developer.intuit.com/"><strUserName>&xxe;</strUserName></authenticate>'
        b"</soap:Body></soap:Envelope>",
    ],
    ids=["not-xml", "unknown-operation", "xxe"],
)
def test_bad_soap_gets_a_fault_not_a_stack_trace(client, body):
    response = client.post("/qbwc/", body, content_type="text/xml; charset=utf-8")
    assert response.status_code in (400, 500)
    root = etree.fromstring(response.content)
    assert root.find(f"{SOAP}Body/{SOAP}Fault/faultcode") is not None
    assert b"Traceback" not in response.content and b"root:" not in response.content


@pytest.mark.django_db
def test_oversize_body_is_refused(client, monkeypatch):
    from integrations.qbdesktop import envelope

    monkeypatch.setattr(envelope, "MAX_BODY_BYTES", 1000)
    body = (
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b'<authenticate xmlns="http://developer.intuit.com/"><strUserName>' + b"x" * 2000 + b"</strUserName>"
        b"</authenticate></soap:Body></soap:Envelope>"
    )
    response = client.post("/qbwc/", body, content_type="text/xml")
    assert response.status_code == 413 and b"Fault" in response.content
