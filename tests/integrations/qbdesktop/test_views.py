"""Connect page, password shown once, .qwc download, last poll and error, tenant isolation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.hashers import check_password
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from lxml import etree

from connector.models import Connection
from integrations.qbdesktop import jobs, qbxml
from integrations.qbdesktop.models import QBWCSession, QBWCUser, QBXMLJob

from .conftest import make_qbd_connection

pytestmark = pytest.mark.django_db


def create(client, **data):
    payload = {"label": "Main & Co <books>", "time_zone": "America/Chicago", "run_every_minutes": "10"}
    payload.update(data)
    return client.post(reverse("qbdesktop_connect"), payload)


def shown_password(response) -> str:
    html = etree.HTML(response.content)
    return html.find(".//*[@id='qbwc-password']//code").text


def test_connect_requires_login(client):
    response = client.get(reverse("qbdesktop_connect"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_connections_page_links_to_connect(alice_client):
    response = alice_client.get(reverse("connections"))
    assert reverse("qbdesktop_connect").encode() in response.content


def test_connect_creates_connection_and_shows_password_once(alice_client, alice):
    response = create(alice_client)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    password = shown_password(response)
    connection = Connection.objects.get(organization=alice.org, system="qbdesktop")
    assert connection.settings == {"time_zone": "America/Chicago", "run_every_minutes": 10}
    user = QBWCUser.objects.get(connection=connection)
    # Stored only as a hash, nowhere in plaintext.
    assert password not in user.password_hash and check_password(password, user.password_hash)
    for row in (user, connection):
        for f in row._meta.concrete_fields:
            assert password not in str(f.value_from_object(row))
    # Shown once: the connection page never shows it again.
    again = alice_client.get(reverse("qbdesktop_detail", args=[connection.pk]))
    assert password.encode() not in again.content and b"qbwc-password" not in again.content
    assert user.username.encode() in again.content


def test_regenerate_replaces_the_password(alice_client, alice):
    connection, user, old = make_qbd_connection(alice.org)
    response = alice_client.post(reverse("qbdesktop_regenerate", args=[connection.pk]))
    new = shown_password(response)
    user.refresh_from_db()
    assert new != old and check_password(new, user.password_hash) and not check_password(old, user.password_hash)
    assert alice_client.get(reverse("qbdesktop_regenerate", args=[connection.pk])).status_code == 405


@override_settings(PUBLIC_BASE_URL="https://connector.example.com")
def test_qwc_file_is_well_formed_with_the_right_fields(alice_client, alice):
    create(alice_client)
    connection = Connection.objects.get(organization=alice.org, system="qbdesktop")
    user = QBWCUser.objects.get(connection=connection)
    response = alice_client.get(reverse("qbdesktop_qwc", args=[connection.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="Main-Co-books')
    root = etree.fromstring(response.content)
    assert root.tag == "QBWCXML"
    fields = {child.tag: child for child in root}
    assert fields["AppURL"].text == "https://connector.example.com/qbwc/"
    assert fields["AppSupport"].text.startswith("https://connector.example.com/")
    assert fields["AppName"].text == "Connector - Main & Co <books>"  # escaped in the file, intact when parsed
    assert b"Main &amp; Co &lt;books&gt;" in response.content
    assert fields["UserName"].text == user.username
    assert fields["QBType"].text == "QBFS"
    assert fields["Scheduler"].findtext("RunEveryNMinutes") == "10"
    import re

    guid = re.compile(r"^\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}$")
    assert guid.match(fields["OwnerID"].text) and guid.match(fields["FileID"].text)
    assert fields["OwnerID"].text != fields["FileID"].text
    assert b"Password" not in response.content
    # A second connection gets fresh GUIDs.
    other, other_user, _pw = make_qbd_connection(alice.org, "Second file")
    assert {other_user.owner_id, other_user.file_id}.isdisjoint({fields["OwnerID"].text, fields["FileID"].text})


@override_settings(PUBLIC_BASE_URL="http://connector.example.com")
def test_page_warns_when_the_service_url_is_not_https(alice_client, alice):
    connection, _user, _pw = make_qbd_connection(alice.org)
    response = alice_client.get(reverse("qbdesktop_detail", args=[connection.pk]))
    assert b"the Web Connector will refuse it" in response.content


def test_page_shows_last_poll_and_error(alice_client, alice):
    connection, user, _pw = make_qbd_connection(alice.org)
    response = alice_client.get(reverse("qbdesktop_detail", args=[connection.pk]))
    assert b"has not polled yet" in response.content
    QBWCUser.objects.filter(pk=user.pk).update(
        last_poll_at=timezone.now(), last_error="The Web Connector could not open QuickBooks (0x80040401)"
    )
    QBWCSession.objects.create(
        organization=alice.org, connection=connection, ticket_hash="x" * 64, expires_at=timezone.now(), jobs_done=3
    )
    response = alice_client.get(reverse("qbdesktop_detail", args=[connection.pk]))
    html = etree.HTML(response.content)
    assert "UTC" in "".join(html.find(".//*[@id='last-poll']").itertext())
    assert "0x80040401" in "".join(html.find(".//*[@id='last-error']").itertext())


def test_a_job_waiting_after_a_busy_answer_says_when_it_is_sent_again(alice_client, alice):
    connection, _user, _pw = make_qbd_connection(alice.org)
    job = jobs.enqueue(connection, qbxml.customer_query(full_names=["Acme Ltd"]))
    later = timezone.now().replace(hour=14, minute=7) + timedelta(days=1)
    QBXMLJob.objects.filter(pk=job.pk).update(
        attempts=1, status_code=3175, status_message="The object is in use.", not_before=later
    )
    html = etree.HTML(alice_client.get(reverse("qbdesktop_detail", args=[connection.pk])).content)
    (note,) = html.findall(".//*[@class='muted resend']")
    assert note.text == "Sent again from 14:07 UTC."


def test_other_tenants_connection_is_404(client, alice, bob):
    connection, _user, _pw = make_qbd_connection(alice.org)
    client.force_login(bob)
    for name in ("qbdesktop_detail", "qbdesktop_qwc"):
        assert client.get(reverse(name, args=[connection.pk])).status_code == 404
    assert client.post(reverse("qbdesktop_regenerate", args=[connection.pk])).status_code == 404


def test_invalid_form_is_shown_again(alice_client, alice):
    response = create(alice_client, time_zone="Mars/Olympus", run_every_minutes="0")
    assert response.status_code == 200 and b"has-error" in response.content
    assert not Connection.objects.filter(organization=alice.org).exists()


def test_sandbox_provisioning_creates_a_working_connection(alice):
    from connector.registry import sandbox_of

    provision = sandbox_of("qbdesktop").provision
    facts = provision(alice.org, alice)
    user = QBWCUser.objects.get(connection_id=facts["connection"])
    assert check_password(facts["qbwc_password"], user.password_hash)
    again = provision(alice.org, alice)  # idempotent: same connection, fresh password
    assert again["connection"] == facts["connection"]
    assert Connection.objects.filter(organization=alice.org, system="qbdesktop").count() == 1
