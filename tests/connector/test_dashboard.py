"""Dashboard: the onboarding checklist (gone once done), the server-drawn charts (pure functions
first, then the page), and the flows table that refreshes itself only while work is waiting."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from connector.models import Connection, Event, Record
from connector.web import charts
from connector.web.dashboard import onboarding_steps
from tests.conftest import make_flow, make_record

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
DAYS = charts.window(NOW.date())


# --- Pure functions ---------------------------------------------------------------------------------


def test_window_is_thirty_days_ending_today():
    assert len(DAYS) == 30
    assert DAYS[0] == date(2026, 2, 14) and DAYS[-1] == date(2026, 3, 15)


def test_daily_outcomes_zero_fill_and_ignore_other_flows_and_days():
    rows = [
        (1, date(2026, 3, 15), "synced", 4),
        (1, date(2026, 3, 15), "failed", 1),
        (1, date(2026, 3, 14), "synced", 2),
        (2, date(2026, 3, 1), "failed", 3),
        (9, date(2026, 3, 15), "synced", 100),  # a flow not on the page
        (1, date(2025, 1, 1), "synced", 100),  # outside the window
    ]
    one, two = charts.daily_outcomes(rows, {1: "Store → Books", 2: "Shop → Books"}, DAYS)
    assert (one.total_synced, one.total_failed) == (6, 1)
    assert one.synced[-1] == 4 and one.failed[-1] == 1 and one.synced[-2] == 2
    assert (two.total_synced, two.total_failed) == (0, 3)
    assert len(one.synced) == len(one.failed) == 30


def test_percentile_is_nearest_rank():
    values = sorted(float(v) for v in range(1, 101))
    assert charts.percentile(values, 50) == 50
    assert charts.percentile(values, 95) == 95
    assert charts.percentile([7.0], 95) == 7
    assert charts.percentile([], 50) == 0


def test_lag_by_day_groups_by_the_day_written_and_never_goes_negative():
    written = datetime(2026, 3, 15, 10, 0, tzinfo=UTC)
    pairs = [(written - timedelta(seconds=s), written) for s in (10, 20, 30, 40, 600)]
    pairs.append((written + timedelta(seconds=5), written))  # the source clock runs ahead
    pairs.append((None, written))
    points = charts.lag_by_day(pairs, DAYS)
    today = points[-1]
    assert today.count == 6
    assert today.p50 == 20 and today.p95 == 600
    assert all(p.count == 0 for p in points[:-1])
    assert charts.overall_lag(points) == (20, 600)


def test_peak_per_minute_keeps_the_busiest_minute_of_each_day():
    rows = [
        (5, datetime(2026, 3, 15, 9, 0, tzinfo=UTC), 12),
        (5, datetime(2026, 3, 15, 9, 1, tzinfo=UTC), 31),
        (5, datetime(2026, 3, 14, 9, 1, tzinfo=UTC), 3),
        (6, datetime(2026, 3, 15, 9, 1, tzinfo=UTC), 1),
    ]
    peaks = charts.peak_per_minute(rows, DAYS)
    assert peaks[5][-1] == 31 and peaks[5][-2] == 3 and peaks[6][-1] == 1


def test_nice_ceiling():
    assert [charts.nice_ceiling(v) for v in (0, 1, 3, 7, 11, 40, 44, 230)] == [1, 1, 5, 10, 20, 50, 50, 250]


def test_outcome_chart_stacks_failed_on_synced_inside_the_plot():
    series = charts.OutcomeSeries(1, "Store → Books", DAYS, [0] * 29 + [8], [0] * 29 + [2])
    chart = charts.outcome_chart(series)
    ok, bad = chart.bars
    assert ok.css == "bar-ok" and bad.css == "bar-bad"
    assert bad.y + bad.height == pytest.approx(ok.y)  # failed sits on top of synced
    assert ok.y + ok.height == pytest.approx(chart.plot_bottom)
    assert bad.y >= charts.PAD_TOP and ok.x + ok.width <= chart.plot_right
    assert "8 record(s) synced and 2 failed" in chart.summary
    assert chart.table_rows == [["15 Mar", "8", "2"]]


def test_rate_chart_draws_the_limit_line_and_says_the_share_used():
    peaks = [0] * 29 + [30]
    chart = charts.rate_chart("Alice's books", DAYS, peaks, 100.0)
    assert chart.limit_y is not None and chart.limit_y < chart.bars[0].y  # the limit is above the bar
    assert "30 of 100 calls a minute (30% of the limit)" in chart.summary
    over = charts.rate_chart("Store", DAYS, [0] * 29 + [50], 40.0)
    assert over.limit_y > over.bars[0].y  # a peak over the limit pokes through the line


def test_every_client_with_a_rate_limit_is_known_per_minute():
    limits = charts.per_minute_limits()
    assert limits["zoho"] == 100
    assert limits["shipstation"] == 40
    assert limits["exact"] == 60


def test_onboarding_steps_follow_the_facts():
    steps = onboarding_steps(store_connected=True, ledger_connected=False, flow_started=False, first_document_url="")
    assert [s.done for s in steps] == [True, False, False, False]
    assert steps[2].url == reverse("flow_create")


# --- The page -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_new_organisation_sees_the_checklist_with_nothing_done(alice_client):
    page = alice_client.get(reverse("dashboard")).content.decode()
    assert 'id="onboarding"' in page and "0 of 4 done" in page
    assert "Connect your store" in page and "See your first document" in page
    assert "<svg" not in page  # no flows, no charts


@pytest.mark.django_db
def test_the_checklist_disappears_once_the_first_document_is_written(alice_client, alice):
    flow = make_flow(alice.org, preset="shipstation_zoho", name="Alice's flow")
    page = alice_client.get(reverse("dashboard")).content.decode()
    assert "2 of 4 done" in page  # both connections are active; the flow is not started

    flow.enabled = True
    flow.save()
    record = make_record(flow, "A-1", status=Record.Status.SYNCED, target_id="INV-1", synced_at=NOW)
    page = alice_client.get(reverse("dashboard")).content.decode()
    assert 'id="onboarding"' not in page

    Connection.objects.filter(pk=flow.target_id).update(status=Connection.Status.NEEDS_REAUTH)
    page = alice_client.get(reverse("dashboard")).content.decode()
    assert "3 of 4 done" in page
    assert reverse("record_detail", args=[record.pk]) in page  # "see your first document" links to it


@pytest.mark.django_db
def test_charts_count_this_organisations_records_per_day(alice_client, alice, bob):
    flow = make_flow(alice.org, preset="shipstation_zoho", name="Alice's flow")
    bobs = make_flow(bob.org, preset="shipstation_zoho", name="Bob's flow")
    with time_machine.travel(NOW, tick=False):
        for i, (kind, source_lag) in enumerate([("created", 30), ("updated", 60), ("created", 600), ("failed", 0)]):
            record = make_record(
                flow,
                f"A-{i}",
                status="failed" if kind == "failed" else "synced",
                source_modified_at=NOW - timedelta(seconds=source_lag) if kind != "failed" else None,
                synced_at=NOW if kind != "failed" else None,
            )
            Event.objects.create(organization=alice.org, record=record, kind=kind, created_at=NOW)
        for i in range(50):  # bob's busy day must not show on alice's dashboard
            record = make_record(bobs, f"B-{i}", status="synced")
            Event.objects.create(organization=bob.org, record=record, kind="created", created_at=NOW)
        for second in range(7):  # seven calls to Zoho within one minute
            Event.objects.create(
                organization=alice.org,
                record=None,
                connection=flow.target,
                kind="api_call",
                created_at=NOW + timedelta(seconds=second),
            )
        page = alice_client.get(reverse("dashboard")).content.decode()
    assert "Alice&#x27;s flow: 3 record(s) synced and 1 failed in the last 30 days." in page
    assert "Bob" not in page
    assert page.count('class="bar-ok"') == 1 and page.count('class="bar-bad"') == 1
    assert "Half of the 3 record(s) written in the last 30 days reached the target within 60 s" in page
    assert "95% did within 10 min" in page
    assert "the busiest minute used 7 of 100 calls a minute (7% of the limit)" in page
    assert page.count('class="limit-line"') == 1
    assert "<table>" in page and "Show the numbers" in page  # the same numbers as text


@pytest.mark.django_db
def test_the_flows_table_polls_only_while_records_wait(alice_client, alice):
    flow = make_flow(alice.org, preset="shipstation_zoho", name="Alice's flow")
    record = make_record(flow, "A-1", status=Record.Status.PENDING)
    page = alice_client.get(reverse("dashboard")).content.decode()
    assert 'hx-get="/?live=1"' in page and 'hx-trigger="every 3s"' in page

    partial = alice_client.get(reverse("dashboard") + "?live=1", HTTP_HX_REQUEST="true")
    assert partial.content.decode().lstrip().startswith('<section id="dashboard-flows"')
    assert b"hx-trigger" in partial.content

    Record.objects.filter(pk=record.pk).update(status=Record.Status.SYNCED)
    partial = alice_client.get(reverse("dashboard") + "?live=1", HTTP_HX_REQUEST="true")
    assert b"hx-trigger" not in partial.content and b"Alice&#x27;s flow" in partial.content


@pytest.mark.django_db
def test_api_calls_made_for_a_record_name_the_connection_they_went_to(alice):
    """The rate-limit charts count calls per connection: the engine's timeline records which side called."""
    from connector.engine import Timeline
    from connector.http import CallRecord

    flow = make_flow(alice.org, preset="shipstation_zoho")
    record = make_record(flow, "A-1")
    timeline = Timeline(record)
    timeline.caller(flow.target)(CallRecord("POST", "https://books.example/invoices", 201, 12))
    timeline.caller(flow.source)(CallRecord("GET", "https://store.example/orders/1", 200, 8))
    timeline.flush()
    calls = Event.objects.filter(record=record, kind="api_call").order_by("id")
    assert [c.connection_id for c in calls] == [flow.target_id, flow.source_id]


def test_day_labels_stay_inside_the_chart():
    chart = charts.outcome_chart(charts.OutcomeSeries(1, "F", DAYS, [1] * 30, [0] * 30))
    first, middle, last = [label for label in chart.labels if label.y == charts.HEIGHT - 6]  # the x axis
    assert (first.text, first.anchor, first.x) == ("14 Feb", "start", charts.PAD_LEFT)
    assert middle.anchor == "middle" and middle.text == "28 Feb"
    assert (last.text, last.anchor, last.x) == ("15 Mar", "end", charts.WIDTH - charts.PAD_RIGHT)


def _plans_without_table_scans(queries) -> str:
    """EXPLAIN of each captured query with sequential scans priced out: the plan names the index the
    planner would use once the tables are large (on a few test rows a table scan is cheapest)."""
    from django.db import connection

    plans = []
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for query in queries:
            cursor.execute(f"EXPLAIN {query['sql']}")
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    return "\n\n".join(plans)


def test_the_chart_queries_range_over_an_organisations_index(alice):
    """The charts read the last 30 days of one organisation's events by kind, and its records by
    when they were synced: each has an index leading with the organisation, so the dashboard stays
    quick for a tenant with years of history."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from connector.web.dashboard import onboarding

    if connection.vendor != "postgresql":
        pytest.skip("reads PostgreSQL's query plans")
    with CaptureQueriesContext(connection) as captured:
        charts.dashboard_charts(alice.org, now=NOW)
        onboarding(alice.org)
    events = [q for q in captured.captured_queries if 'FROM "connector_event"' in q["sql"]]
    records = [q for q in captured.captured_queries if 'FROM "connector_record"' in q["sql"]]
    assert len(events) == 2 and len(records) == 2
    event_plans, record_plans = _plans_without_table_scans(events), _plans_without_table_scans(records)
    assert event_plans.count("event_org_kind_time_idx") == 2, event_plans
    assert record_plans.count("record_synced_idx") == 2, record_plans
