"""Pre-authentication checks on a Web Connector request body, before Spyne sees a byte of it.

/qbwc/ answers anyone on the internet, so the body is read with a cap (never more than cap + 1 bytes)
and stream-parsed with limits on element count, depth and attributes by an lxml *target* parser,
which builds no tree: memory stays flat whatever the body holds. Only a body that passes goes to
Spyne, which builds a tree of it.

Encoding: the body is decoded before the DOCTYPE/ENTITY check, so a UTF-16 or UTF-32 body cannot hide
a document type declaration from a byte-level search. The encoding comes from the byte-order mark,
else the Content-Type charset, else the XML declaration, else UTF-8 (RFC 7303 §3 and XML 1.0
Appendix F, https://www.w3.org/TR/xml/#sec-guessing), from a short allow-list of encodings whose
markup characters Python and libxml2 read alike. The checked text is handed on re-encoded as UTF-8
without its XML declaration, so Spyne parses exactly the characters that were checked.
SOAP 1.1 §3 forbids a DTD in a SOAP message (https://www.w3.org/TR/2000/NOTE-SOAP-20000508/#_Toc478383492).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO

from lxml import etree

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
MAX_BODY_BYTES = 2 * 1024 * 1024  # every Web Connector message but receiveResponseXML is a few KB
# A Web Connector envelope has about a dozen elements (the qbXML inside is an escaped string, not
# elements): these limits leave wide room for it and none for an element-bomb.
MAX_ELEMENTS = 256
MAX_DEPTH = 16
MAX_ATTRIBUTES = 32
CHUNK_BYTES = 64 * 1024
_SNIFF_BYTES = 1024

_ALLOWED_ENCODINGS = frozenset(
    {"utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"}
    | {"ascii", "latin-1", "iso8859-1", "cp1252"}
)
_BOMS = (  # UTF-32 first: its little-endian mark starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_NO_BOM = (  # "<" in a wide encoding without a mark (XML 1.0 Appendix F)
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
)
_DECLARED = re.compile(rb"""\A<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9._-]{1,40})["']""")
_DECLARATION = re.compile(r"\A<\?xml[^>]{0,300}?\?>")
_DTD = re.compile(r"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST)", re.IGNORECASE)
_DTD_TAIL = 24  # characters kept between chunks so a declaration split across two is still seen


class Refused(Exception):
    """The body is not accepted; `code` and `message` go into a SOAP 1.1 Fault."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def too_large(limit: int) -> Refused:
    return Refused("Client.RequestTooLong", f"The request body is over the {limit}-byte limit.", status=413)


@dataclass(frozen=True)
class Envelope:
    body: bytes  # UTF-8, without an XML declaration: what Spyne parses
    operation: str  # local name of the Body's first element, e.g. "authenticate"


def encoding_of(head: bytes, charset: str | None) -> str:
    """The Python codec for a body starting with `head`; Refused when not on the allow-list."""
    for mark, name in _BOMS:
        if head.startswith(mark):
            return name
    for prefix, name in _NO_BOM:
        if head.startswith(prefix):
            return name
    declared = _DECLARED.match(head)
    label = charset or (declared.group(1).decode("ascii") if declared else "utf-8")
    try:
        name = codecs.lookup(label).name
    except LookupError:
        name = ""
    if name not in _ALLOWED_ENCODINGS:
        raise Refused("Client.Encoding", "The request's character encoding is not supported; send UTF-8.")
    return name


class _Guard:
    """lxml parser target: counts elements and depth, finds the SOAP operation, refuses a DTD."""

    def __init__(self) -> None:
        self.elements = 0
        self.stack: list[str] = []
        self.operation = ""

    def start(self, tag: str, attrib) -> None:
        self.elements += 1
        if self.elements > MAX_ELEMENTS:
            raise Refused("Client.TooManyElements", f"The request has more than {MAX_ELEMENTS} XML elements.")
        if len(self.stack) >= MAX_DEPTH:
            raise Refused("Client.TooDeep", f"The request nests XML elements more than {MAX_DEPTH} deep.")
        if len(attrib) > MAX_ATTRIBUTES:
            raise Refused("Client.TooManyAttributes", f"An element has more than {MAX_ATTRIBUTES} attributes.")
        if not self.stack and tag != f"{{{SOAP_ENV}}}Envelope":
            raise Refused("Client.NotSoap", "The request is not a SOAP 1.1 envelope.")
        if len(self.stack) == 2 and self.stack[1] == f"{{{SOAP_ENV}}}Body" and not self.operation:
            self.operation = etree.QName(tag).localname
        self.stack.append(tag)

    def end(self, tag: str) -> None:
        self.stack.pop()

    # No `data` method: lxml then skips text callbacks (an escaped qbXML page is 10^5 of them); text is
    # bounded by the byte cap and nothing of it is kept.

    def doctype(self, *args) -> None:
        raise _dtd_refused()

    def close(self) -> str:
        return self.operation


def _dtd_refused() -> Refused:
    return Refused("Client.DTDNotAllowed", "SOAP messages must not contain a document type declaration.")


class _Reader:
    """Decodes, checks and pre-parses chunk by chunk, collecting the UTF-8 text for Spyne."""

    def __init__(self, encoding: str):
        self.decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        self.encoding = encoding
        self.guard = _Guard()
        self.parser = etree.XMLParser(
            target=self.guard,
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        self.out: list[bytes] = []
        self.tail = ""
        self.first = True

    def feed(self, chunk: bytes, *, final: bool = False) -> None:
        try:
            text = self.decoder.decode(chunk, final=final)
        except UnicodeDecodeError:
            raise Refused("Client.Encoding", f"The request is not valid {self.encoding}.") from None
        if self.first and text:
            text = _DECLARATION.sub("", text.lstrip("\ufeff"), count=1)
            self.first = False
        if "\x00" in text:
            raise Refused("Client.XMLSyntaxError", "The request contains a NUL character, which XML forbids.")
        if _DTD.search(self.tail + text):
            raise _dtd_refused()
        self.tail = (self.tail + text)[-_DTD_TAIL:]
        data = text.encode("utf-8")
        try:
            if data:
                self.parser.feed(data)
            if final:
                self.parser.close()
        except etree.XMLSyntaxError as exc:
            line, column = exc.position
            raise Refused(
                "Client.XMLSyntaxError", f"The request is not well-formed XML (line {line}, column {column})."
            ) from None
        self.out.append(data)


def read(
    stream: BinaryIO,
    *,
    declared_length: int | None,
    charset: str | None,
    operation_caps: Mapping[str, int],
) -> Envelope:
    """Read and check a SOAP request body; Refused (a Fault for the client) when it is not acceptable.

    Every operation may send MAX_BODY_BYTES; `operation_caps` raises the cap for named operations. The
    larger cap applies only once the Body's first element names such an operation, so whatever comes
    before it (a padded Header) counts against the small one.
    """
    hard_cap = max(MAX_BODY_BYTES, *operation_caps.values()) if operation_caps else MAX_BODY_BYTES
    if declared_length is not None and declared_length > hard_cap:
        raise too_large(hard_cap)
    reader, head, received = _read_capped(stream, declared_length, charset, operation_caps)
    if received == 0:
        raise Refused("Client.EmptyRequest", "The request body is empty; expected a SOAP envelope.")
    if reader is None:  # shorter than the sniffed prefix
        reader = _Reader(encoding_of(head, charset))
        reader.feed(head, final=True)
    else:
        reader.feed(b"", final=True)
    if not reader.guard.operation:
        raise Refused("Client.NoOperation", "The SOAP Body names no operation.")
    return Envelope(body=b"".join(reader.out), operation=reader.guard.operation)


def _read_capped(
    stream: BinaryIO, declared_length: int | None, charset: str | None, operation_caps: Mapping[str, int]
) -> tuple[_Reader | None, bytes, int]:
    """Feed the body to a _Reader chunk by chunk, never reading past the cap that applies so far.

    Returns the reader (None when the body is shorter than the sniffed prefix), that unread prefix and
    the bytes received."""
    limit = MAX_BODY_BYTES
    received = 0
    head = b""
    reader: _Reader | None = None
    while chunk := stream.read(min(CHUNK_BYTES, limit + 1 - received)):
        received += len(chunk)
        if received > limit:
            raise too_large(limit)
        if reader is None:
            head += chunk
            if len(head) < _SNIFF_BYTES:
                continue  # sniff the encoding from a prefix long enough to hold the XML declaration
            reader, chunk, head = _Reader(encoding_of(head, charset)), head, b""
        reader.feed(chunk)
        if reader.guard.operation:
            limit = _operation_limit(reader.guard.operation, operation_caps, received, declared_length)
    return reader, head, received


def _operation_limit(operation: str, operation_caps: Mapping[str, int], received: int, declared: int | None) -> int:
    """The cap of the operation the Body names; Refused when what came or was announced is over it."""
    limit = operation_caps.get(operation, MAX_BODY_BYTES)
    if received > limit or (declared is not None and declared > limit):
        raise too_large(limit)
    return limit
