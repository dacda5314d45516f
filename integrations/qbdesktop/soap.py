"""The QuickBooks Web Connector SOAP service: Spyne, SOAP 1.1 document/literal, at /qbwc/.

Operation and parameter names are exactly those of Intuit's QBWebConnectorSvc WSDL
(tests/specs/qbdesktop/QBWebConnectorSvc.wsdl); the parameter names are significant on the wire
(QBWC.md §1). The Django view reads the body itself through `envelope.read` (size caps, element
limits, no DTDs, before any authentication), throttles `authenticate` per client address, and hands
the checked body to Spyne's WsgiApplication: Spyne stays the SOAP engine while Django owns routing,
CSRF exemption and the request policy. Every refusal is a SOAP 1.1 Fault, never an error page.

Body caps. Every message may be MAX_BODY_BYTES (2 MB; the Web Connector's own are a few KB) except
`receiveResponseXML`, which carries one page of qbXML as an escaped string. The largest page we ask
for is LARGEST_PAGE rows (the biggest `MaxReturned` of any iterator we queue), and one escaped list
or transaction row without line items is far below ROW_BYTES (the `CustomerRet` of Intuit's captured
envelope is about 1.5 KB escaped; line items are only asked for one invoice at a time). So
RECEIVE_RESPONSE_MAX_BYTES = LARGEST_PAGE × ROW_BYTES + ENVELOPE_BYTES (about 8 MB for 1,000 rows).
It must stay under libxml2's 10,000,000-byte text-node limit, which Spyne's parser keeps on.
"""

from __future__ import annotations

import io
import logging
import math
import warnings

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from lxml import etree

from connector.clientip import client_ip
from integrations.qbdesktop import envelope, inventory, qbxml, service, sync

with warnings.catch_warnings():
    # spyne 2.14 imports six's meta-path importer and `cgi`; both warn on Python 3.11 at import time.
    warnings.simplefilter("ignore", ImportWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    from spyne import Application, Array, Integer32, ServiceBase, Unicode, rpc
    from spyne.protocol.soap import Soap11
    from spyne.server.wsgi import WsgiApplication

logger = logging.getLogger(__name__)
# Spyne logs the raw request body on parse errors; an authenticate body carries the QBWC password.
logging.getLogger("spyne").setLevel(logging.CRITICAL)

NAMESPACE = "http://developer.intuit.com/"
MAX_BODY_BYTES = envelope.MAX_BODY_BYTES
LARGEST_PAGE = max(qbxml.DEFAULT_PAGE_SIZE, sync.PAGE_SIZE, inventory.ITEM_SYNC_PAGE_SIZE)
ROW_BYTES = 8 * 1024
ENVELOPE_BYTES = 64 * 1024
RECEIVE_RESPONSE_MAX_BYTES = LARGEST_PAGE * ROW_BYTES + ENVELOPE_BYTES
OPERATION_CAPS = {"receiveResponseXML": RECEIVE_RESPONSE_MAX_BYTES}

ArrayOfString = Array(Unicode, type_name="ArrayOfString")


def _safely(default, func, *args):
    """A bug of ours must reach the Web Connector as a documented error value, not a stack trace."""
    try:
        return func(*args)
    except Exception:
        logger.exception("qbwc %s failed", func.__name__)
        return default


class QBWebConnectorSvc(ServiceBase):
    # Method and argument names are Intuit's, camelCase included: they are the element names on the wire.

    @rpc(Unicode(min_occurs=0), _returns=Unicode, _body_style="wrapped")
    def serverVersion(ctx, strVersion):
        return service.server_version()

    @rpc(Unicode, _returns=Unicode)
    def clientVersion(ctx, strVersion):
        return _safely("", service.client_version, strVersion)

    @rpc(Unicode, Unicode, _returns=ArrayOfString)
    def authenticate(ctx, strUserName, strPassword):
        return _safely(["", "nvu"], service.authenticate, strUserName, strPassword)

    @rpc(Unicode, Unicode, Unicode, Unicode, Integer32, Integer32, _returns=Unicode)
    def sendRequestXML(
        ctx,
        ticket,
        strHCPResponse,
        strCompanyFileName,
        qbXMLCountry,
        qbXMLMajorVers,
        qbXMLMinorVers,
    ):
        return _safely(
            "",
            service.send_request_xml,
            ticket,
            strHCPResponse,
            strCompanyFileName,
            qbXMLCountry,
            qbXMLMajorVers,
            qbXMLMinorVers,
        )

    @rpc(Unicode, Unicode, Unicode, Unicode, _returns=Integer32(min_occurs=1))
    def receiveResponseXML(ctx, ticket, response, hresult, message):
        return _safely(-1, service.receive_response_xml, ticket, response, hresult, message)

    @rpc(Unicode, Unicode, Unicode, _returns=Unicode)
    def connectionError(ctx, ticket, hresult, message):
        return _safely("done", service.connection_error, ticket, hresult, message)

    @rpc(Unicode, _returns=Unicode)
    def getLastError(ctx, ticket):
        return _safely("The service could not look up the last error.", service.get_last_error, ticket)

    @rpc(Unicode, _returns=Unicode)
    def closeConnection(ctx, ticket):
        return _safely("OK", service.close_connection, ticket)


application = Application(
    [QBWebConnectorSvc],
    tns=NAMESPACE,
    name="QBWebConnectorSvc",
    in_protocol=Soap11(validator="soft"),
    out_protocol=Soap11(),
)
wsgi_application = WsgiApplication(application, max_content_length=RECEIVE_RESPONSE_MAX_BYTES)


def _fault(code: str, message: str, status: int = 500, headers: dict | None = None) -> HttpResponse:
    soap = "{http://schemas.xmlsoap.org/soap/envelope/}"
    root = etree.Element(f"{soap}Envelope", nsmap={"soap11env": soap[1:-1]})
    fault = etree.SubElement(etree.SubElement(root, f"{soap}Body"), f"{soap}Fault")
    etree.SubElement(fault, "faultcode").text = f"soap11env:{code}"
    etree.SubElement(fault, "faultstring").text = message
    body = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    return HttpResponse(body, status=status, content_type="text/xml; charset=utf-8", headers=headers)


def _run_spyne(request: HttpRequest, body: bytes) -> HttpResponse:
    environ = dict(request.META)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ["CONTENT_TYPE"] = "text/xml; charset=utf-8"  # envelope.read re-encoded the checked text
    captured: dict = {}

    def start_response(status: str, headers: list, exc_info=None):
        captured["status"] = int(status.split(" ", 1)[0])
        captured["headers"] = headers

    chunks = wsgi_application(environ, start_response)
    content = b"".join(chunks)
    response = HttpResponse(content, status=captured.get("status", 500))
    for name, value in captured.get("headers", []):
        if name.lower() != "content-length":
            response[name] = value
    return response


def _declared_length(request: HttpRequest) -> int | None:
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return None


@csrf_exempt
def qbwc_endpoint(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        if "wsdl" in {key.lower() for key in request.GET}:
            return _run_spyne(request, b"")
        return HttpResponse(
            "QuickBooks Web Connector service. Add it to the Web Connector with the .qwc file.\n",
            content_type="text/plain; charset=utf-8",
        )
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    try:
        checked = envelope.read(
            request,
            declared_length=_declared_length(request),
            charset=request.content_params.get("charset"),
            operation_caps=OPERATION_CAPS,
        )
    except envelope.Refused as refused:
        logger.info("qbwc request refused: %s", refused.code)
        return _fault(refused.code, refused.message, status=refused.status)
    if checked.operation == "authenticate":
        wait = service.authenticate_wait(client_ip(request))
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            return _fault(
                "Client.TooManyAttempts",
                f"Too many Web Connector logins from this address; try again in {seconds} seconds.",
                status=429,
                headers={"Retry-After": str(seconds)},
            )
    return _run_spyne(request, checked.body)
