"""Sandbox credit notes: `POST/GET /creditnotes`, `GET /creditnotes/{id}` (refunds).

Shaped after Zoho's credit-note API (https://www.zoho.com/books/api/v3/credit-notes/ and the same
resource in Zoho Invoice, https://www.zoho.com/invoice/api/v3/credit-notes/): `customer_id*`,
`date*`, `line_items*`, `creditnote_number` honoured with `ignore_auto_number_generation=true`,
`reference_number`; created as `open` with `balance` = `total`; a second credit note with the same
number is refused with code 12018 "The specified Credit Note Number already exists"; an unknown id
is 1002 "Credit Note does not exists" (Zoho's own wording). Line arithmetic, taxes and the
customer's currency are the invoice rules (books._document_fields). Several credit notes may share
a reference number (several refunds of one order), unlike invoices in this sandbox.
"""

from __future__ import annotations

from integrations.zoho.sandbox import books, state
from integrations.zoho.sandbox.books import Call, ZohoError
from integrations.zoho.sandbox.models import SandboxZohoDocument

MISSING = (1002, "Credit Note does not exists")


def create_creditnote(call: Call) -> tuple[int, dict]:
    body = call.body
    if not body.get("date"):
        raise ZohoError(400, 4, "Please enter the credit note date")
    doc = SandboxZohoDocument(org=call.org, kind="creditnote", object_id=state.new_id())
    if str(call.query.get("ignore_auto_number_generation", "")).lower() == "true":
        number = str(body.get("creditnote_number") or "").strip()
        if not number:
            raise ZohoError(400, 4, "Please enter the credit note number")
        if call.docs("creditnote").filter(number=number).exists():
            raise ZohoError(400, 12018, "The specified Credit Note Number already exists")
    else:
        number = call.next_number("creditnote", "CN-")
    data = books._document_fields(call, body, doc, "creditnote")
    data.update({"creditnote_id": doc.object_id, "creditnote_number": number, "status": "open"})
    data["balance"] = data["total"]
    doc.number, doc.reference_number = number, data["reference_number"]
    books._save(doc, data)
    return 201, {"code": 0, "message": "The credit note has been created.", "creditnote": books._doc_out(doc)}


def get_creditnote(call: Call, creditnote_id: str) -> tuple[int, dict]:
    doc = call.get("creditnote", creditnote_id, MISSING)
    return 200, {"code": 0, "message": "success", "creditnote": books._doc_out(doc)}


def list_creditnotes(call: Call) -> tuple[int, dict]:
    return books._list_documents(call, "creditnote", "creditnotes")


books.route(r"creditnotes", GET=list_creditnotes, POST=create_creditnote)
books.route(r"creditnotes/(?P<creditnote_id>\d+)", GET=get_creditnote)
