"""/qbwc/ before authentication: body caps, element limits, encodings, DTDs and the login throttle.

The attack: a 36 MB SOAP envelope of tiny elements took a worker from 126 MB to 1.6 GB before any
authentication, because the whole body was read and handed to Spyne, which built a tree of it. Here
the same idea at a smaller, still over-cap size must be refused with a SOAP Fault before Spyne runs.
"""

from __future__ import annotations

import codecs
import io
import tracemalloc

import pytest
from lxml import etree

from integrations.qbdesktop import envelope, soap

SOAP_NS = "{http://schemas.xmlsoap.org/soap/envelope/}"
HEAD = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    '<authenticate xmlns="http://developer.intuit.com/">'
)
TAIL = "</authenticate></soap:Body></soap:Envelope>"
AUTHENTICATE = HEAD + "<strUserName>nobody</strUserName><strPassword>wrong</strPassword>" + TAIL


def fault_of(response) -> tuple[str, str]:
    root = etree.fromstring(response.content)
    fault = root.find(f"{SOAP_NS}Body/{SOAP_NS}Fault")
    assert fault is not None, response.content[:300]
    return fault.findtext("faultcode"), fault.findtext("faultstring")


class CountingStream(io.RawIOBase):
    """A request body that counts how much of it the server read."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)
        self.size = len(data)
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        self.consumed += len(chunk)
        return len(chunk)


@pytest.fixture
def spyne_calls(monkeypatch):
    calls: list[bytes] = []
    real = soap._run_spyne

    def spy(request, body):
        calls.append(body)
        return real(request, body)

    monkeypatch.setattr(soap, "_run_spyne", spy)
    return calls


def post_stream(
    client, data: bytes | CountingStream, *, content_length: int | None = None, content_type="text/xml; charset=utf-8"
):
    stream = data if isinstance(data, CountingStream) else CountingStream(data)
    length = stream.size if content_length is None else content_length
    response = client.generic(
        "POST", "/qbwc/", b"", content_type=content_type, **{"wsgi.input": stream, "CONTENT_LENGTH": str(length)}
    )
    return response, stream


@pytest.mark.django_db
def test_tiny_element_bomb_over_the_cap_is_a_fault_without_spyne_or_memory(client, spyne_calls):
    body = (HEAD + "<a/>" * 1_000_000 + TAIL).encode()  # ~4 MB: the 36 MB attack, scaled down, still over 2 MB
    assert len(body) > soap.MAX_BODY_BYTES
    client.post("/qbwc/", AUTHENTICATE, content_type="text/xml")  # warm up: imports, URL resolver
    spyne_calls.clear()
    stream = CountingStream(body)
    tracemalloc.start()
    try:
        response, stream = post_stream(client, stream)
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    code, message = fault_of(response)
    assert 400 <= response.status_code < 500
    assert code.endswith(("Client.TooManyElements", "Client.RequestTooLong")), code
    assert spyne_calls == []
    # Refused as soon as the element limit was hit: far less than the body was read, and Python
    # never held more than a few chunks of it.
    assert stream.consumed < 2 * envelope.CHUNK_BYTES
    assert peak < 2 * 1024 * 1024


@pytest.mark.django_db
def test_declared_length_over_the_hard_cap_is_refused_before_reading(client, spyne_calls):
    body = (HEAD + "<a/>" * 10 + TAIL).encode()
    response, stream = post_stream(client, body, content_length=36 * 1024 * 1024)
    code, message = fault_of(response)
    assert response.status_code == 413 and code.endswith("Client.RequestTooLong")
    assert str(soap.RECEIVE_RESPONSE_MAX_BYTES) in message
    assert stream.consumed == 0 and spyne_calls == []


@pytest.mark.django_db
def test_authenticate_over_two_megabytes_is_refused_even_under_the_receive_cap(client, spyne_calls):
    padding = "x" * (soap.MAX_BODY_BYTES + 10)
    body = (HEAD + f"<strUserName>{padding}</strUserName><strPassword>p</strPassword>" + TAIL).encode()
    assert len(body) < soap.RECEIVE_RESPONSE_MAX_BYTES
    response, stream = post_stream(client, body)
    code, _message = fault_of(response)
    assert response.status_code == 413 and code.endswith("Client.RequestTooLong")
    # Refused once the first chunk named the operation: its declared length gave it away.
    assert spyne_calls == [] and stream.consumed <= envelope.CHUNK_BYTES


@pytest.mark.django_db
def test_a_padded_header_counts_against_the_small_cap(client, spyne_calls):
    """Whatever comes before the operation is read under 2 MB, even in a receiveResponseXML."""
    header = "<soap:Header>" + "y" * (soap.MAX_BODY_BYTES + 10) + "</soap:Header>"
    body = (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        + header
        + '<soap:Body><receiveResponseXML xmlns="http://developer.intuit.com/"><ticket>t</ticket>'
        "</receiveResponseXML></soap:Body></soap:Envelope>"
    ).encode()
    response, stream = post_stream(client, body)
    assert response.status_code == 413 and fault_of(response)[0].endswith("Client.RequestTooLong")
    assert stream.consumed <= soap.MAX_BODY_BYTES + 1 and spyne_calls == []


@pytest.mark.django_db
def test_deep_nesting_is_refused(client, spyne_calls):
    body = (HEAD + "<a>" * 100 + "</a>" * 100 + TAIL).encode()
    response, _stream = post_stream(client, body)
    assert response.status_code == 400 and fault_of(response)[0].endswith("Client.TooDeep")
    assert spyne_calls == []


@pytest.mark.django_db
@pytest.mark.parametrize("content_length", [0, None])
def test_empty_post_is_a_client_fault_not_a_500(client, spyne_calls, content_length):
    extra = {} if content_length is None else {"CONTENT_LENGTH": "0"}
    response = client.generic("POST", "/qbwc/", b"", content_type="text/xml", **extra)
    assert response.status_code == 400
    code, message = fault_of(response)
    assert code.endswith("Client.EmptyRequest") and "empty" in message
    assert spyne_calls == []


DOCTYPE_BODY = (
    '<?xml version="1.0" encoding="{enc}"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    '<authenticate xmlns="http://developer.intuit.com/"><strUserName>&xxe;</strUserName>'
    "<strPassword>p</strPassword></authenticate></soap:Body></soap:Envelope>"
)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("codec", "declared", "bom", "charset"),
    [
        ("utf-16-le", "utf-16", codecs.BOM_UTF16_LE, "utf-16"),  # BOM and a matching charset
        ("utf-16-be", "utf-16", codecs.BOM_UTF16_BE, "utf-8"),  # the BOM wins over a lying charset
        ("utf-16-le", "utf-16", b"", None),  # no BOM, no charset: "<\0" says UTF-16 (XML 1.0 Appendix F)
        ("utf-32-le", "utf-32", codecs.BOM_UTF32_LE, None),
        ("utf-8", "utf-8", codecs.BOM_UTF8, "utf-8"),  # the plain case stays refused too
    ],
    ids=["utf16-bom", "utf16be-lying-charset", "utf16-no-bom", "utf32", "utf8"],
)
def test_a_wide_encoding_cannot_hide_a_doctype(client, spyne_calls, codec, declared, bom, charset):
    body = bom + DOCTYPE_BODY.format(enc=declared).encode(codec)
    if codec != "utf-8":
        assert b"<!DOCTYPE" not in body  # a byte-level search would have missed it
    content_type = f"text/xml; charset={charset}" if charset else "text/xml"
    response, _stream = post_stream(client, body, content_type=content_type)
    assert response.status_code == 400
    assert fault_of(response)[0].endswith("Client.DTDNotAllowed")
    assert spyne_calls == []


@pytest.mark.django_db
def test_a_doctype_split_across_chunks_is_seen(client, spyne_calls):
    pad = "<!--" + "p" * (envelope.CHUNK_BYTES - 6) + "-->"
    body = ('<?xml version="1.0"?>' + pad + "<!DOC" + "TYPE x []>" + AUTHENTICATE[39:]).encode()
    response, _stream = post_stream(client, body)
    assert fault_of(response)[0].endswith("Client.DTDNotAllowed") and spyne_calls == []


@pytest.mark.django_db
def test_unsupported_encoding_is_refused(client, spyne_calls):
    body = AUTHENTICATE.replace('encoding="utf-8"', 'encoding="utf-7"').encode()
    response, _stream = post_stream(client, body, content_type="text/xml")
    assert response.status_code == 400 and fault_of(response)[0].endswith("Client.Encoding")
    assert spyne_calls == []


@pytest.mark.django_db
def test_a_utf16_envelope_without_doctype_still_works(client, qbd_user):
    _connection, user, password = qbd_user
    text = AUTHENTICATE.replace("nobody", user.username).replace("wrong", password).replace("utf-8", "utf-16")
    response, _stream = post_stream(client, codecs.BOM_UTF16_LE + text.encode("utf-16-le"), content_type="text/xml")
    assert response.status_code == 200, response.content[:300]
    strings = [s.text for s in etree.fromstring(response.content).iter("{http://developer.intuit.com/}string")]
    assert len(strings) == 2 and len(strings[0]) == 64  # a ticket, not "nvu"


@pytest.fixture
def qbd_user(alice):
    from tests.integrations.qbdesktop.conftest import make_qbd_connection

    return make_qbd_connection(alice.org)


@pytest.mark.django_db
def test_authenticate_is_throttled_per_client_address(client, spyne_calls, monkeypatch):
    from connector.ratelimit import Limit
    from integrations.qbdesktop import service

    monkeypatch.setattr(service, "AUTH_ATTEMPTS", Limit(requests=3, per_seconds=3600.0, starts_full=True))
    for _ in range(3):
        response = client.post("/qbwc/", AUTHENTICATE, content_type="text/xml", REMOTE_ADDR="127.0.0.7")
        assert response.status_code == 200 and b"nvu" in response.content
    response = client.post("/qbwc/", AUTHENTICATE, content_type="text/xml", REMOTE_ADDR="127.0.0.7")
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    code, message = fault_of(response)
    assert code.endswith("Client.TooManyAttempts") and "try again" in message
    assert len(spyne_calls) == 3  # the refused attempt cost no password hash
    # Another address has its own allowance; other operations are not throttled.
    other = client.post("/qbwc/", AUTHENTICATE, content_type="text/xml", REMOTE_ADDR="127.0.0.8")
    assert other.status_code == 200
    version = AUTHENTICATE.replace("authenticate", "serverVersion").replace(
        "<strUserName>nobody</strUserName><strPassword>wrong</strPassword>", ""
    )
    assert client.post("/qbwc/", version, content_type="text/xml", REMOTE_ADDR="127.0.0.7").status_code == 200


def test_receive_response_cap_follows_the_page_sizes_and_stays_under_libxml2s_text_limit():
    from integrations.qbdesktop import flow, qbxml, sync

    largest = max(qbxml.DEFAULT_PAGE_SIZE, sync.PAGE_SIZE, flow.ITEM_SYNC_PAGE_SIZE)
    assert largest == soap.LARGEST_PAGE  # a bigger MaxReturned anywhere must raise the cap with it
    assert soap.RECEIVE_RESPONSE_MAX_BYTES < 10_000_000  # XML_MAX_TEXT_LENGTH with huge_tree off


def item_row(n: int) -> str:
    """An ItemInventoryRet with the fields QuickBooks returns (qbXML OSR), descriptions 200 characters."""
    desc = f"Stainless steel widget {n}, 40 mm, boxed; " * 5
    ref = "<{0}><ListID>80000001-1234567890</ListID><FullName>{1}</FullName></{0}>"
    return (
        f"<ItemInventoryRet><ListID>8000{n:04X}-1234567890</ListID><TimeCreated>2024-01-05T09:46:33-05:00</TimeCreated>"
        "<TimeModified>2024-03-05T09:46:33-05:00</TimeModified><EditSequence>1709650000</EditSequence>"
        f"<Name>WIDGET-{n:05d}</Name><FullName>Hardware:Widgets:WIDGET-{n:05d}</FullName>"
        "<BarCodeValue>0123456789012</BarCodeValue><IsActive>true</IsActive>"
        + ref.format("ParentRef", "Hardware:Widgets")
        + "<Sublevel>2</Sublevel><ManufacturerPartNumber>MPN-0000001</ManufacturerPartNumber>"
        + ref.format("SalesTaxCodeRef", "Tax")
        + f"<SalesDesc>{desc}</SalesDesc><SalesPrice>12.50</SalesPrice>"
        + ref.format("IncomeAccountRef", "Sales:Merchandise")
        + f"<PurchaseDesc>{desc}</PurchaseDesc><PurchaseCost>6.25</PurchaseCost>"
        + ref.format("COGSAccountRef", "Cost of Goods Sold")
        + ref.format("PrefVendorRef", "Widget Supply Co.")
        + ref.format("AssetAccountRef", "Inventory Asset")
        + "<ReorderPoint>10</ReorderPoint><QuantityOnHand>40</QuantityOnHand><AverageCost>6.25</AverageCost>"
        "<QuantityOnOrder>0</QuantityOnOrder><QuantityOnSalesOrder>0</QuantityOnSalesOrder></ItemInventoryRet>"
    )


@pytest.mark.django_db
def test_a_full_item_page_fits_the_receive_cap(client, spyne_calls):
    """The biggest page we ask for (ITEM_SYNC_PAGE_SIZE full inventory items) is over 2 MB and passes."""
    from integrations.qbdesktop import flow

    rows = "".join(item_row(n) for n in range(flow.ITEM_SYNC_PAGE_SIZE))
    page = (
        '<?xml version="1.0" ?><QBXML><QBXMLMsgsRs><ItemInventoryQueryRs requestID="1" statusCode="0" '
        f'statusSeverity="Info" statusMessage="Status OK" iteratorRemainingCount="0" iteratorID="x">{rows}'
        "</ItemInventoryQueryRs></QBXMLMsgsRs></QBXML>"
    )
    escaped = page.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    body = (
        '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        '<soap:Body><receiveResponseXML xmlns="http://developer.intuit.com/"><ticket>unknown</ticket>'
        f"<response>{escaped}</response><hresult/><message/></receiveResponseXML></soap:Body></soap:Envelope>"
    ).encode()
    assert soap.MAX_BODY_BYTES < len(body) < soap.RECEIVE_RESPONSE_MAX_BYTES / 2
    response, _stream = post_stream(client, body)
    assert response.status_code == 200, response.content[:300]
    assert len(spyne_calls) == 1
    result = etree.fromstring(response.content).find(".//{http://developer.intuit.com/}receiveResponseXMLResult")
    assert result is not None and result.text == "-1"  # unknown ticket: the documented answer
