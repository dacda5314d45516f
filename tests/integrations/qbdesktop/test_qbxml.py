"""qbXML builders and the hardened streaming parser (no database)."""

from __future__ import annotations

import subprocess
import sys
import zoneinfo
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from lxml import etree

from connector.http import NeedsReview, Permanent, Transient
from integrations.qbdesktop import qbxml

from .conftest import FIXTURES

NY = zoneinfo.ZoneInfo("America/New_York")


def children(xml: str) -> list[str]:
    return [c.tag for c in etree.fromstring(xml)]


def test_message_set_has_version_header_on_error_and_request_ids():
    text = qbxml.message_set([("41", qbxml.customer_query(full_names=["Acme & Sons <UK>"]))], version="13.0")
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="13.0"?>\n')
    root = etree.fromstring(text.encode())
    msgs = root.find("QBXMLMsgsRq")
    assert msgs.get("onError") == "continueOnError"
    rq = msgs.find("CustomerQueryRq")
    assert rq.get("requestID") == "41"
    assert rq.findtext("FullName") == "Acme & Sons <UK>"  # escaped on the way in, intact on the way out
    assert "&amp; Sons &lt;UK&gt;" in text


def test_message_set_refuses_a_bad_version():
    with pytest.raises(ValueError):
        qbxml.message_set([("1", qbxml.item_query())], version='13.0"?><x')


def test_list_query_uses_top_level_modified_dates_in_company_local_time():
    since = datetime(2024, 7, 1, 16, 30, tzinfo=UTC)
    request = qbxml.item_inventory_query(from_modified=since, company_tz=NY, max_returned=250)
    root = etree.fromstring(request.xml)
    assert request.kind == "ItemInventoryQuery" and root.get("iterator") == "Start"
    assert children(request.xml) == ["MaxReturned", "ActiveStatus", "FromModifiedDate"]
    assert root.findtext("MaxReturned") == "250"
    assert root.findtext("FromModifiedDate") == "2024-07-01T12:30:00"  # EDT, no offset: QuickBooks local time


def test_transaction_query_uses_modified_date_range_filter():
    request = qbxml.invoice_query(
        from_modified=datetime(2024, 1, 15, 12, 0, tzinfo=UTC),
        to_modified=datetime(2024, 1, 16, 12, 0, tzinfo=UTC),
        company_tz=NY,
        include_line_items=True,
    )
    root = etree.fromstring(request.xml)
    assert children(request.xml) == ["MaxReturned", "ModifiedDateRangeFilter", "IncludeLineItems"]
    assert root.findtext("ModifiedDateRangeFilter/FromModifiedDate") == "2024-01-15T07:00:00"
    assert root.findtext("ModifiedDateRangeFilter/ToModifiedDate") == "2024-01-16T07:00:00"


def test_id_queries_are_not_iterated_and_dates_need_a_time_zone():
    assert not qbxml.customer_query(list_ids=["80000001-1"]).is_iterator
    with pytest.raises(ValueError):
        qbxml.customer_query(from_modified=datetime(2024, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError):
        qbxml.qb_datetime(datetime(2024, 1, 1), NY)


def test_deleted_queries():
    txn = qbxml.txn_deleted_query(["Invoice"], from_deleted=datetime(2024, 2, 1, tzinfo=UTC), company_tz=NY)
    assert children(txn.xml) == ["TxnDelType", "DeletedDateRangeFilter"]
    assert not txn.is_iterator
    lst = qbxml.list_deleted_query()
    assert [e.text for e in etree.fromstring(lst.xml)] == [
        "Customer",
        "ItemInventory",
        "ItemNonInventory",
        "ItemService",
    ]


def _spec(**kwargs):
    values = {
        "customer_full_name": "Acme Ltd",
        "txn_date": date(2024, 3, 5),
        "ref_number": "1001",
        "lines": (
            qbxml.InvoiceLine("WIDGET-1", Decimal("2"), Decimal("12.5"), desc="Blue widget"),
            qbxml.InvoiceLine("Shipping", Decimal("1"), Decimal("4.95")),
        ),
        "memo": "ShipStation order 1001",
    }
    values.update(kwargs)
    return qbxml.InvoiceSpec(**values)


def test_invoice_add_in_schema_order():
    request = qbxml.invoice_add(_spec())
    body = etree.fromstring(request.xml).find("InvoiceAdd")
    assert [c.tag for c in body] == ["CustomerRef", "TxnDate", "RefNumber", "Memo", "InvoiceLineAdd", "InvoiceLineAdd"]
    line = body.find("InvoiceLineAdd")
    assert [c.tag for c in line] == ["ItemRef", "Desc", "Quantity", "Rate"]
    assert line.findtext("Rate") == "12.50" and line.findtext("Quantity") == "2"


def test_invoice_mod_and_edit_sequence_rewrite():
    request = qbxml.invoice_mod("1A-123", "1710000001", _spec())
    body = etree.fromstring(request.xml).find("InvoiceMod")
    assert [c.tag for c in body][:3] == ["TxnID", "EditSequence", "CustomerRef"]
    assert body.find("InvoiceLineMod").findtext("TxnLineID") == "-1"
    newer = qbxml.with_edit_sequence(request, "1710000099")
    assert etree.fromstring(newer.xml).findtext("InvoiceMod/EditSequence") == "1710000099"
    requery = qbxml.requery_for(request)
    assert requery.kind == "InvoiceQuery" and etree.fromstring(requery.xml).findtext("TxnID") == "1A-123"


def test_ref_number_longer_than_quickbooks_allows_is_refused():
    with pytest.raises(ValueError):
        qbxml.invoice_add(_spec(ref_number="123456789012"))


def test_journal_entry_must_balance():
    line = qbxml.JournalLine
    ok = qbxml.journal_entry_add(
        qbxml.JournalEntrySpec(
            date(2024, 3, 5),
            "1001",
            (line("Cost of Goods Sold", Decimal("8.20"), "postage"),),
            (line("Checking", Decimal("8.2")),),
        )
    )
    body = etree.fromstring(ok.xml).find("JournalEntryAdd")
    assert [c.tag for c in body] == ["TxnDate", "RefNumber", "JournalDebitLine", "JournalCreditLine"]
    assert [c.tag for c in body.find("JournalDebitLine")] == ["AccountRef", "Amount", "Memo"]
    with pytest.raises(ValueError):
        qbxml.journal_entry_add(
            qbxml.JournalEntrySpec(date(2024, 3, 5), "1", (line("A", Decimal("1")),), (line("B", Decimal("2")),))
        )


def test_iterator_continue_and_restart():
    start = qbxml.item_query(max_returned=50)
    cont = qbxml.continue_iterator(start, "{abc}")
    root = etree.fromstring(cont.xml)
    assert root.get("iterator") == "Continue" and root.get("iteratorID") == "{abc}"
    assert root.findtext("MaxReturned") == "50"
    again = etree.fromstring(qbxml.restart_iterator(cont).xml)
    assert again.get("iterator") == "Start" and again.get("iteratorID") is None


ITEMS_RS = (
    '<?xml version="1.0" ?>\n<QBXML>\n<QBXMLMsgsRs>\n'
    '<ItemInventoryQueryRs requestID="7" statusCode="0" statusSeverity="Info" statusMessage="Status OK" '
    'retCount="2" iteratorRemainingCount="3" iteratorID="{84ff5521-205d-46b6-9d44-7b6b9acb7165}">\n'
    "<ItemInventoryRet><ListID>80000001-1</ListID><EditSequence>17</EditSequence><Name>W</Name>"
    "<FullName>WIDGET-1</FullName><SalesPrice>12.50</SalesPrice><QuantityOnHand>40</QuantityOnHand></ItemInventoryRet>\n"
    "<ItemInventoryRet><ListID>80000002-1</ListID><EditSequence>18</EditSequence><Name>G</Name>"
    "<FullName>GADGET-2</FullName><QuantityOnHand>-2.5</QuantityOnHand></ItemInventoryRet>\n"
    "</ItemInventoryQueryRs>\n</QBXMLMsgsRs>\n</QBXML>\n"
)


def test_parser_yields_status_then_items_with_quantity_on_hand():
    parsed = list(qbxml.iter_response(ITEMS_RS))
    status = parsed[0]
    assert isinstance(status, qbxml.Status)
    assert (status.request_id, status.kind, status.code, status.ret_count) == ("7", "ItemInventoryQuery", 0, 2)
    assert status.iterator_remaining == 3 and status.iterator_id.startswith("{84ff")
    assert [(i.full_name, i.quantity_on_hand) for i in parsed[1:]] == [
        ("WIDGET-1", Decimal("40")),
        ("GADGET-2", Decimal("-2.5")),
    ]


def test_parser_reads_the_captured_invoice_and_error_responses():
    # B5's response (CustomerAddRs) and the captured 3100, unescaped from their SOAP envelopes.
    for name in ("B5_receiveResponseXML.xml", "receiveResponseXML_3100.xml"):
        envelope = etree.fromstring((FIXTURES / name).read_bytes())
        response = envelope.find(".//{http://developer.intuit.com/}response").text
        items = list(qbxml.iter_response(response))
        status = items[0]
        if status.code == 0:
            assert isinstance(items[1], qbxml.Customer) and items[1].full_name == "Shannon 171 Daniels"
            assert items[1].edit_sequence == "1215265593"
        else:
            assert status.code == 3100 and "already in use" in status.message
            assert isinstance(qbxml.status_error(status), Permanent)


def test_status_codes_become_typed_errors():
    def st(code, severity="Error"):
        return qbxml.Status("1", "InvoiceMod", code, severity, "msg")

    assert qbxml.status_error(st(0, "Info")) is None
    assert qbxml.status_error(st(1, "Info")) is None
    assert qbxml.status_error(st(500, "Warn")) is None
    assert isinstance(qbxml.status_error(st(3200)), qbxml.EditSequenceOutOfDate)
    assert isinstance(qbxml.status_error(st(3175)), Transient)
    assert isinstance(qbxml.status_error(st(3140)), NeedsReview)
    assert isinstance(qbxml.status_error(st(3120)), Permanent)


XXE = (
    '<?xml version="1.0"?>\n<!DOCTYPE QBXML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    '<QBXML><QBXMLMsgsRs><CustomerQueryRs statusCode="0" statusSeverity="Info" statusMessage="OK">'
    "<CustomerRet><ListID>1</ListID><FullName>&xxe;</FullName></CustomerRet></CustomerQueryRs></QBXMLMsgsRs></QBXML>"
)
LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    + ']>\n<QBXML><QBXMLMsgsRs><CustomerQueryRs statusCode="0" statusSeverity="Info" statusMessage="&lol9;"/>'
    "</QBXMLMsgsRs></QBXML>"
)


@pytest.mark.parametrize("payload", [XXE, LAUGHS], ids=["xxe", "billion-laughs"])
def test_hostile_payloads_are_refused(payload):
    with pytest.raises(qbxml.HostileXML):
        list(qbxml.iter_response(payload))
    with pytest.raises(qbxml.HostileXML):
        qbxml.parse_host_response(payload)


def test_entities_are_never_resolved_even_past_the_dtd_check():
    # An undeclared entity reference: not expanded, the document is rejected as malformed.
    doc = '<QBXML><QBXMLMsgsRs><CustomerQueryRs statusCode="0" statusMessage="&xxe;"/></QBXMLMsgsRs></QBXML>'
    with pytest.raises(qbxml.HostileXML):
        list(qbxml.iter_response(doc))


def test_oversize_and_malformed_and_foreign_documents_are_refused():
    with pytest.raises(qbxml.HostileXML):
        list(qbxml.iter_response(ITEMS_RS, limit=100))
    with pytest.raises(qbxml.HostileXML):
        list(qbxml.iter_response("<QBXML><QBXMLMsgsRs>"))
    with pytest.raises(qbxml.HostileXML):
        list(qbxml.iter_response("<html><body/></html>"))


MEMORY_PROBE = """
import sys
from lxml import etree
from integrations.qbdesktop import qbxml
def peak_kb():  # VmHWM belongs to this address space; ru_maxrss would carry the parent's peak over
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("VmHWM:")).split()[1])
with open(sys.argv[2], "rb") as f:
    doc = f.read()  # one allocation: no freed temporaries for the parser to reuse
before = peak_kb()
if sys.argv[1] == "stream":
    count = sum(isinstance(o, qbxml.Item) for o in qbxml.iter_response(doc))
    assert count == 30000, count
else:
    tree = etree.fromstring(doc)
print(peak_kb() - before)
"""


def _peak_growth_kb(mode: str, path) -> int:
    # A fresh process per measurement: freed memory in a shared process would hide the difference.
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, mode, str(path)], capture_output=True, text=True, timeout=60, check=True
    )
    return int(result.stdout.strip())


def test_parsing_is_memory_flat(tmp_path):
    """Streaming 30,000 items grows peak RSS by a fraction of what the whole tree takes."""
    ret = (
        "<ItemInventoryRet><ListID>{0}</ListID><EditSequence>1</EditSequence><Name>N{0}</Name>"
        "<FullName>SKU-{0}</FullName><QuantityOnHand>{0}</QuantityOnHand><SalesDesc>{1}</SalesDesc>"
        "</ItemInventoryRet>\n"
    )
    path = tmp_path / "items.xml"
    with path.open("w") as f:
        f.write('<QBXML><QBXMLMsgsRs><ItemInventoryQueryRs requestID="1" statusCode="0" statusSeverity="Info" ')
        f.write('statusMessage="Status OK">')
        for i in range(30000):
            f.write(ret.format(i, "x" * 200))
        f.write("</ItemInventoryQueryRs></QBXMLMsgsRs></QBXML>")
    streaming, whole = _peak_growth_kb("stream", path), _peak_growth_kb("tree", path)
    assert whole > 5_000, whole  # sanity: the full tree takes megabytes
    assert streaming < whole / 4, f"streaming grew peak RSS by {streaming} KB, the whole tree by {whole} KB"


def test_host_response_and_version_negotiation():
    envelope = etree.fromstring((FIXTURES / "B4_sendRequestXML.xml").read_bytes())
    hcp = envelope.find(".//{http://developer.intuit.com/}strHCPResponse").text
    host = qbxml.parse_host_response(hcp)
    assert host.product_name == "QuickBooks Pro 2006" and host.company_name == "Test Company"
    assert host.file_ids["{68b5925b-4347-4784-e58d-35a2d190962f}"] == "{ee032e95-47f7-2564-096f-2d4545fcb021}"
    assert qbxml.negotiate_version(host, 5, 0) == "5.0"
    assert qbxml.negotiate_version(None, 16, 0) == qbxml.DEFAULT_VERSION
    assert qbxml.negotiate_version(None, 8, 0) == "8.0"
