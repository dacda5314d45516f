"""The QuickBooks Web Connector SOAP service: Spyne, SOAP 1.1 document/literal, at /qbwc/.

Operation and parameter names are exactly those of Intuit's QBWebConnectorSvc WSDL
(shared/specs/qbdesktop/QBWebConnectorSvc.wsdl); the parameter names are significant on the wire
(QBWC.md §1). The Django view reads the body itself (size limit, no DTDs: SOAP 1.1 §3 forbids them)
and hands it to Spyne's WsgiApplication, so Spyne stays the SOAP engine while Django owns routing,
CSRF exemption and the request size policy.
"""

from __future__ import annotations

import io
import logging
import re
import warnings

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from integrations.qbdesktop import service

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
MAX_BODY_BYTES = 40 * 1024 * 1024  # receiveResponseXML carries a whole qbXML page, escaped
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)

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
wsgi_application = WsgiApplication(application, max_content_length=MAX_BODY_BYTES)


def _fault(code: str, message: str, status: int = 500) -> HttpResponse:
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap11env:Envelope xmlns:soap11env="http://schemas.xmlsoap.org/soap/envelope/"><soap11env:Body>'
        f"<soap11env:Fault><faultcode>soap11env:{code}</faultcode><faultstring>{message}</faultstring>"
        "</soap11env:Fault></soap11env:Body></soap11env:Envelope>"
    )
    return HttpResponse(body, status=status, content_type="text/xml; charset=utf-8")


def _run_spyne(request: HttpRequest, body: bytes) -> HttpResponse:
    environ = dict(request.META)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
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
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        return _fault("Client.RequestTooLong", "Request body is too large.", status=413)
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return _fault("Client.RequestTooLong", "Request body is too large.", status=413)
    if _DTD.search(body):
        return _fault("Client.DTDNotAllowed", "SOAP messages must not contain a document type declaration.")
    return _run_spyne(request, body)
