"""The audit log built for millions of records: keyset pages both ways (no row twice, none skipped,
even with equal timestamps; never another tenant's), cursors that were tampered with refused with a
400 naming them, search by order number, email and document number, date ranges as ranges, query
plans on PostgreSQL that read the right index, and the seed command the benchmark uses.

Timings live in bench/audit_scale.py; here only behaviour and plans."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Organization
from connector.management.commands.seed_audit import seed_name, tenant_sizes
from connector.models import Event, Flow, Record
from connector.web.audit import encode_cursor, filter_records, page_of
from connector.web.params import InvalidParam
from tests.conftest import make_flow, make_record

pytestmark = pytest.mark.django_db

SAME_TIME = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def ids_of(page) -> list[int]:
    return [r.pk for r in page.records]


@pytest.fixture
def tied(alice, bob):
    """Alice's 37 records, 30 of them updated at the very same moment; Bob's 10 at that moment too,
    with the same order numbers."""
    flow = make_flow(alice.org)
    mine = [make_record(flow, f"5{i:03d}", search_text=f"buyer{i}@shop.example buyer {i}") for i in range(37)]
    Record.objects.filter(pk__in=[r.pk for r in mine[:30]]).update(updated_at=SAME_TIME)
    for n, record in enumerate(mine[30:]):
        Record.objects.filter(pk=record.pk).update(updated_at=SAME_TIME + timedelta(minutes=n + 1))
    other = make_flow(bob.org)
    theirs = [make_record(other, f"5{i:03d}", search_text=f"buyer{i}@shop.example") for i in range(10)]
    Record.objects.filter(pk__in=[r.pk for r in theirs]).update(updated_at=SAME_TIME)
    return flow


def walk_forward(queryset, size):
    pages, cursor = [], None
    while True:
        page = page_of(queryset, cursor, size)
        pages.append(ids_of(page))
        if not page.next_cursor:
            return pages
        cursor = page.next_cursor


def test_pages_forward_then_back_cover_each_record_once_in_order_despite_equal_times(alice, tied):
    queryset = Record.objects.for_org(alice.org)
    expected = list(queryset.order_by("-updated_at", "-id").values_list("pk", flat=True))
    forward = walk_forward(queryset, 4)
    assert [pk for page in forward for pk in page] == expected  # none twice, none skipped, in order
    # Previous, from the last page back to the first, gives the same pages.
    back, page = [forward[-1]], page_of(queryset, None, 4)
    cursor = page_of(queryset, encode_cursor(Record.objects.get(pk=forward[-2][-1])), 4).previous_cursor
    while cursor:
        page = page_of(queryset, None, 4, before=cursor)
        back.append(ids_of(page))
        cursor = page.previous_cursor
    assert back[::-1] == forward


@pytest.mark.parametrize("query", ["", "q=shop.example", "status=pending"])
def test_the_list_pages_never_show_another_tenants_records(alice_client, alice, bob, tied, monkeypatch, query):
    monkeypatch.setattr("connector.web.audit.PAGE_SIZE", 6)
    bobs = set(Record.objects.for_org(bob.org).values_list("pk", flat=True))
    shown, url = [], reverse("audit_log") + "?" + query
    for _ in range(20):
        html = alice_client.get(url).content.decode()
        shown += [int(pk) for pk in re.findall(r'href="/audit/(\d+)/"', html)]
        more = re.search(r'href="\?([^"]*after=[^"]+)"', html)
        if not more:
            break
        url = reverse("audit_log") + "?" + more.group(1).replace("&amp;", "&")
    assert len(shown) == len(set(shown)) == 37 and not bobs & set(shown)
    # A cursor made from one of Bob's records is only a position: Alice still sees only her own.
    bob_cursor = encode_cursor(Record.objects.for_org(bob.org).first())
    html = alice_client.get(reverse("audit_log") + f"?{query}&after={bob_cursor}").content.decode()
    found = {int(pk) for pk in re.findall(r'href="/audit/(\d+)/"', html)}
    assert found and not bobs & found


def test_the_page_behind_a_cursor_links_to_newer_records_and_back_to_the_newest(alice_client, alice, tied):
    first = alice_client.get(reverse("audit_log")).content.decode()
    assert "Newer records" not in first  # 37 fit one page of 50
    cursor = encode_cursor(Record.objects.for_org(alice.org).order_by("-updated_at", "-id")[5])
    html = alice_client.get(reverse("audit_log") + f"?status=pending&after={cursor}").content.decode()
    assert "Newer records" in html and "Newest first" in html
    back = re.search(r'href="\?([^"]*before=[^"]+)"', html).group(1).replace("&amp;", "&")
    assert "status=pending" in back  # the filters travel with the cursor
    newest = alice_client.get(reverse("audit_log") + "?" + back)
    assert newest.status_code == 200 and "Newer records" not in newest.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        "after=garbage",
        "before=%%%",
        "after=" + base64.urlsafe_b64encode(b'["2026-02-30T00:00:00+00:00", 5]').decode(),  # no such day
        "after=" + base64.urlsafe_b64encode(b'["2026-03-01T00:00:00", 5]').decode(),  # no offset
        "after=" + base64.urlsafe_b64encode(b'["2026-03-01T00:00:00+00:00", -1]').decode(),
        "after=" + base64.urlsafe_b64encode(b'["2026-03-01T00:00:00+00:00", 99999999999999999999]').decode(),
        "after=" + base64.urlsafe_b64encode(b'{"id": 5}').decode(),
        "after=" + base64.urlsafe_b64encode(json.dumps(["x" * 5000, 1]).encode()).decode(),
    ],
)
def test_a_tampered_cursor_is_a_400_naming_it_never_a_500(alice_client, tied, query):
    response = alice_client.get(reverse("audit_log") + "?" + query)
    assert response.status_code == 400
    assert query.split("=")[0].encode() in response.content


def test_after_and_before_together_are_refused(alice, tied):
    cursor = encode_cursor(Record.objects.for_org(alice.org).first())
    with pytest.raises(InvalidParam, match="before"):
        page_of(Record.objects.for_org(alice.org), cursor, before=cursor)


@pytest.fixture
def documents(alice, bob):
    flow = make_flow(alice.org)
    invoice = make_record(flow, "10042", target_ref="INV-000777", search_text="grace.hopper@navy.example grace hopper")
    sales_order = make_record(flow, "10043", target_ref="SO-000778", search_text="ada@analytical.example ada lovelace")
    by_id = make_record(flow, "#W-88", source_id="wc_order_5531", search_text="")
    short = make_record(flow, "7", target_ref="12")
    wild = make_record(flow, "10_%", search_text="")
    longer = make_record(flow, "100420", search_text="")
    make_record(make_flow(bob.org), "10042", target_ref="INV-000777", search_text="grace.hopper@navy.example")
    return {
        "invoice": invoice,
        "sales_order": sales_order,
        "by_id": by_id,
        "short": short,
        "wild": wild,
        "longer": longer,
    }


@pytest.mark.parametrize(
    ("q", "found"),
    [
        ("10042", "invoice"),  # a whole order number: that order, not 100420 that contains it
        ("0777", "invoice"),  # part of a number
        ("00420", "longer"),
        ("grace.hopper@navy.example", "invoice"),  # whole email
        ("HOPPER", "invoice"),  # part of a name or address, any case
        ("inv-000777", "invoice"),  # the invoice number in the books
        ("000778", "sales_order"),  # part of a sales-order number
        ("wc_order_5531", "by_id"),  # the source's own id
        ("7", "short"),  # one or two characters: a whole order number ...
        ("12", "short"),  # ... or document number only
        ("10_%", "wild"),  # LIKE wildcards are plain characters
    ],
)
def test_search_finds_a_record_by_each_key_within_the_tenant(alice, documents, q, found):
    matches = list(filter_records(Record.objects.for_org(alice.org), {"q": q}))
    assert matches == [documents[found]]


def test_a_short_search_does_not_match_inside_numbers(alice, documents):
    assert not filter_records(Record.objects.for_org(alice.org), {"q": "04"}).exists()


def test_part_of_a_number_finds_every_record_containing_it(alice, documents):
    found = set(filter_records(Record.objects.for_org(alice.org), {"q": "1004"}))
    assert found == {documents["invoice"], documents["sales_order"], documents["longer"]}


def test_date_range_includes_whole_days_and_nothing_beyond(alice):
    flow = make_flow(alice.org)
    at = {
        "before": datetime(2026, 2, 28, 23, 59, 59, 999999, tzinfo=UTC),
        "first": datetime(2026, 3, 1, 0, 0, tzinfo=UTC),
        "last": datetime(2026, 3, 2, 23, 59, 59, 999999, tzinfo=UTC),
        "after": datetime(2026, 3, 3, 0, 0, tzinfo=UTC),
    }
    for name, when in at.items():
        Record.objects.filter(pk=make_record(flow, name).pk).update(updated_at=when)
    found = filter_records(Record.objects.for_org(alice.org), {"since": "2026-03-01", "until": "2026-03-02"})
    assert sorted(found.values_list("source_ref", flat=True)) == ["first", "last"]


# --- Query plans (PostgreSQL) ----------------------------------------------------------------------


PLANNER_SWITCHES = ("enable_seqscan", "enable_sort", "enable_indexscan")


def plan_of(sql: str, *, bitmap_only: bool = False) -> str:
    """EXPLAIN with table scans and sorts priced out (on a test's few rows, reading them all and
    sorting is cheapest): the index the planner uses once a tenant has many thousand records, where
    sorting them per page would not do. Search is read through a bitmap (its index has no order)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        if bitmap_only:
            cursor.execute("SET LOCAL enable_indexscan = off")
        else:
            cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
        for switch in PLANNER_SWITCHES:
            cursor.execute(f"RESET {switch}")
    return plan


def list_query(client, query: str) -> str:
    """The SQL of the audit page's record list for `query`."""
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("audit_log") + "?" + query).status_code == 200
    lists = [q["sql"] for q in captured.captured_queries if "ORDER BY" in q["sql"] and "connector_record" in q["sql"]]
    assert len(lists) == 1, lists
    return lists[0]


@pytest.fixture
def many(alice, bob):
    """A few hundred records in two tenants with every filter's values, and fresh statistics."""
    if connection.vendor != "postgresql":
        pytest.skip("reads PostgreSQL's query plans")
    for org in (bob.org, alice.org):
        flow = make_flow(org)
        for i in range(150):
            make_record(
                flow,
                f"{9000 + i}",
                status=["synced", "failed", "pending"][i % 3],
                object_type=["order", "shipment", "customer"][i % 3],
                stage=["", "shipped"][i % 2],
                target_ref=f"INV-{i:06d}",
                search_text=f"buyer{i}@shop.example",
            )
    analyze()
    return Flow.objects.for_org(alice.org).get()


def analyze() -> None:
    """Statistics as autovacuum keeps them, and the search index's pending list merged (autovacuum
    merges it too; a query must read every pending entry until then)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT gin_clean_pending_list('record_search_trgm_idx')")
        cursor.execute("ANALYZE connector_record")
        cursor.execute("ANALYZE connector_event")


@pytest.mark.parametrize(
    ("query", "index"),
    [
        ("", "record_audit_idx"),
        ("status=failed", "record_status_idx"),
        ("object_type=shipment", "record_type_idx"),
        ("stage=shipped", "record_stage_idx"),
        ("since=2026-01-01&until=2026-12-31", "record_audit_idx"),
        ("flow={flow}", "record_flow_idx"),
    ],
)
def test_each_list_filter_reads_its_index_in_list_order(alice_client, many, query, index):
    plan = plan_of(list_query(alice_client, query.format(flow=many.pk)))
    assert index in plan and "Sort" not in plan, plan  # in list order: no sort of the tenant's rows


def test_a_page_behind_a_cursor_starts_its_index_range_at_the_cursor(alice_client, alice, many):
    cursor = encode_cursor(Record.objects.for_org(alice.org).order_by("-updated_at", "-id")[100])
    for query in (f"after={cursor}", f"before={cursor}"):
        plan = plan_of(list_query(alice_client, query))
        condition = next(line for line in plan.splitlines() if "Index Cond" in line)
        assert "record_audit_idx" in plan and "updated_at" in condition, plan  # a range, not a walk from the top


@pytest.fixture
def searchable(alice, many):
    """A tenant large enough (15,000 records) that reading all its rows to find a few costs the
    planner more than the search index, as it does for real tenants."""
    Record.objects.bulk_create(
        Record(organization=alice.org, flow=many, object_type="order", source_id=f"bulk-{i}",
               source_ref=f"{20000 + i}", status="synced", target_ref=f"INV-{20000 + i:06d}",
               search_text=f"customer{i}@mail.example customer {i}")
        for i in range(15_000)
    )  # fmt: skip
    analyze()


@pytest.mark.parametrize("q", ["904", "buyer42@shop", "000042", "customer"])
def test_search_for_part_of_a_key_reads_the_trigram_index_within_the_tenant(alice_client, searchable, q):
    plan = plan_of(list_query(alice_client, f"q={q}"), bitmap_only=True)
    lines = plan.splitlines()
    scan = next((n for n, line in enumerate(lines) if "record_search_trgm_idx" in line), None)
    assert scan is not None and "~~" in lines[scan + 1], plan  # the index answers the LIKE
    assert "organization_id = " in plan, plan  # and the tenant is kept (in the index or after it)


@pytest.mark.parametrize(
    ("q", "index"),
    [
        ("9042", "connector_record_source_ref"),  # the order number
        ("INV-000042", "connector_record_target_ref"),  # the document number
        ("buyer42@shop.example", "record_search_first_idx"),  # the email address
    ],
)
def test_a_whole_key_is_found_through_a_plain_index(alice_client, many, q, index):
    plan = plan_of(list_query(alice_client, f"q={q}"), bitmap_only=True)
    assert index in plan and "record_search_trgm_idx" not in plan, plan


def test_the_record_page_reads_its_events_by_index(alice_client, alice, many):
    record = Record.objects.for_org(alice.org).first()
    with CaptureQueriesContext(connection) as captured:
        assert alice_client.get(reverse("record_detail", args=[record.pk])).status_code == 200
    events = [q["sql"] for q in captured.captured_queries if 'FROM "connector_event"' in q["sql"]]
    assert events
    for sql in events:
        assert "event_record_idx" in plan_of(sql), plan_of(sql)


# --- The seed command ------------------------------------------------------------------------------


def test_tenant_shares_are_unequal_and_add_up():
    sizes = tenant_sizes(1_000_000, 200)
    assert sum(sizes) == 1_000_000 and sizes == sorted(sizes, reverse=True)
    assert 80_000 < sizes[0] < 120_000 and sizes[-1] > 1_000  # the largest holds about a tenth


def test_seed_writes_records_with_their_events_over_the_tenants(capsys):
    call_command("seed_audit", records=300, events=4, tenants=5)
    orgs = Organization.objects.filter(name__startswith="Seed 300x4x5 shop")
    assert orgs.count() == 5
    records = Record.objects.filter(organization__in=orgs)
    assert records.count() == 300 and Event.objects.filter(record__in=records).count() == 1200
    # Each record's events belong to its tenant, in time order within the record's life.
    event = Event.objects.filter(record__in=records).select_related("record").first()
    assert event.organization_id == event.record.organization_id
    assert {"synced", "failed"} <= set(records.values_list("status", flat=True))
    assert {"order", "shipment", "customer"} == set(records.values_list("object_type", flat=True))
    assert records.filter(target_ref__startswith="INV-").exists() and records.exclude(stage="").exists()
    assert records.filter(search_text__contains="@").count() == 300
    oldest, newest = records.order_by("updated_at").first(), records.order_by("updated_at").last()
    assert newest.updated_at - oldest.updated_at > timedelta(days=100)  # spread over the period
    largest = orgs.get(name=seed_name(300, 4, 5, 1))
    assert records.filter(organization=largest).count() == tenant_sizes(300, 5)[0]
    # Searchable the way the audit log searches.
    synced = records.filter(target_ref__startswith="INV-").first()
    found = filter_records(Record.objects.for_org(synced.organization), {"q": synced.target_ref})
    assert synced in found

    call_command("seed_audit", records=300, events=4, tenants=5, if_missing=True)  # reused, not doubled
    assert Record.objects.filter(organization__in=orgs).count() == 300
    assert "already there" in capsys.readouterr().out
    with pytest.raises(CommandError, match="already there"):
        call_command("seed_audit", records=300, events=4, tenants=5)


def test_seed_refuses_impossible_sizes():
    with pytest.raises(CommandError):
        call_command("seed_audit", records=3, events=1, tenants=5)
