"""Request ids: every request gets one, its log lines carry it, and it follows a webhook delivery into
the task that processes it (stored with the delivery) and any task a request queues (message header)."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from celery import current_app, shared_task
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from django.urls import path

from connector import registry, tasks
from connector.celery import task_request_id
from connector.logs import JsonFormatter, bind_request_id, current_request_id, sane_request_id, unbind_request_id
from connector.models import Connection, Delivery
from connector.redis import get_redis
from connector.registry import AuthKind, Role, SystemInfo
from connector.web.health import healthz
from connector.webhooks import Parsed, Refused, WebhookEndpoint

handled = logging.getLogger("tests.request_ids")


class RidHook(WebhookEndpoint):
    """An unsigned vendor whose deliveries are `{"topic": ...}`; the topic "nope" is refused."""

    system = "ridemo"

    def verify(self, request, body, connection):
        return None

    def parse(self, request, body, connection):
        return Parsed(topic=json.loads(body)["topic"])

    def check(self, connection, parsed):
        if parsed.topic == "nope":
            raise Refused("not for us")


def handle_delivery(delivery: Delivery) -> None:
    handled.warning("handled delivery %s", delivery.pk)


@shared_task(name="tests.request_ids.echo")
def echo() -> None:
    handled.warning("echo task ran")


urlpatterns = [
    path("hooks/ridemo/<str:token>/", RidHook.as_view()),
    path("healthz", healthz),
]
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


@pytest.fixture
def json_lines():
    """Every log line written while the test runs, as our JSON formatter writes it (at emit time)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.WARNING)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(previous)


@pytest.fixture
def conn(alice, monkeypatch):
    monkeypatch.setitem(
        registry._systems,
        "ridemo",
        SystemInfo("ridemo", "Request id demo", AuthKind.API_KEY, Role.STORE, delivery_handler=handle_delivery),
    )
    return Connection.objects.create(organization=alice.org, system="ridemo", label="Demo")


@pytest.fixture
def queued(monkeypatch, inline_inbox):
    ids: list[int] = []
    monkeypatch.setattr(tasks.process_delivery, "delay", ids.append)
    return ids


def post(conn, topic: str, **headers):
    url = f"/hooks/ridemo/{conn.webhook_token}/"
    return Client().post(url, data=json.dumps({"topic": topic}), content_type="application/json", **headers)


# --- The middleware ---------------------------------------------------------------------------------


def test_every_response_names_its_request_id_and_a_sane_incoming_one_is_kept():
    made = Client().get("/healthz")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert Client().get("/healthz")["X-Request-ID"] != made
    assert Client().get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a:01.b_c")["X-Request-ID"] == "lb-7f3a:01.b_c"
    assert current_request_id() is None  # unbound once the response is closed


@pytest.mark.parametrize("incoming", ["has space", "x" * 129, 'q"uote', "new\nline", "-leading", "é"])
def test_an_unusable_incoming_id_is_replaced(incoming):
    assert sane_request_id(incoming) is None
    answered = Client().get("/healthz", HTTP_X_REQUEST_ID=incoming)["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", answered)


def test_log_lines_written_during_a_request_carry_its_id(conn, json_lines):
    response = post(conn, "nope", HTTP_X_REQUEST_ID="req-refused-1")
    assert response.status_code == 403
    lines = [line for line in json_lines() if "refused" in line["message"] or "Forbidden" in line["message"]]
    # The view's own warning and Django's line about the 403, written after the middleware returned.
    assert {line["logger"] for line in lines} == {"connector.webhooks", "django.request"}
    assert {line["request_id"] for line in lines} == {"req-refused-1"}


# --- Into the worker --------------------------------------------------------------------------------


def test_a_delivery_is_processed_under_the_id_of_the_request_that_brought_it(
    conn, queued, json_lines, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = post(conn, "thing.created", HTTP_X_REQUEST_ID="req-first")
        second = post(conn, "thing.updated")
    assert first.status_code == second.status_code == 200
    assert len(queued) == 2
    # One drain fans out deliveries of many requests: each still logs under its own request's id.
    token = bind_request_id("the-drain-task")
    try:
        for pk in queued:
            assert tasks.process_delivery.apply(args=(pk,)).successful()
        assert current_request_id() == "the-drain-task"  # each task gave the id back when it ended
    finally:
        unbind_request_id(token)
    by_delivery = {
        int(line["message"].rsplit(" ", 1)[1]): line["request_id"]
        for line in json_lines()
        if line["message"].startswith("handled delivery")
    }
    assert by_delivery == {queued[0]: "req-first", queued[1]: second["X-Request-ID"]}
    assert Delivery.objects.get(pk=queued[0]).status == Delivery.Status.PROCESSED


def test_a_task_queued_during_a_request_carries_its_id_in_the_message():
    token = bind_request_id("req-publish-7")
    try:
        current_app.send_task("connector.tasks.sync_record", args=(1,))
    finally:
        unbind_request_id(token)
    current_app.send_task("connector.tasks.sync_record", args=(2,))  # no request: no id
    # The broker's list in Redis (LPUSH: newest first).
    without, with_id = (json.loads(m) for m in get_redis().lrange("sync", 0, -1))
    assert with_id["headers"]["request_id"] == "req-publish-7"
    assert "request_id" not in without["headers"]


def test_the_worker_binds_the_carried_id_around_the_task_and_clears_it(json_lines):
    # A worker reads the message's headers as request attributes; an eager run passes them as `headers`.
    echo.push_request(id="t-1", request_id="req-carried-3")
    try:
        assert task_request_id(echo, ()) == "req-carried-3"
    finally:
        echo.pop_request()
    assert echo.apply(headers={"request_id": "req-carried-3"}).successful()
    assert echo.apply(headers={"request_id": "bad id with spaces"}).successful()
    ids = [line.get("request_id") for line in json_lines() if line["message"] == "echo task ran"]
    assert ids == ["req-carried-3", None]
    assert current_request_id() is None


def test_webhooks_served_without_the_middleware_stack_still_get_an_id(conn, queued, json_lines, monkeypatch):
    """Production serves /hooks/ through connector.wsgi's bare handler: the request id is its one middleware."""
    from connector import wsgi
    from connector.wsgi import application

    monkeypatch.setattr(wsgi, "HOOKS_URLCONF", __name__)  # the bare handler resolves hooks in its own URLconf

    body = json.dumps({"topic": "thing.created"}).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": f"/hooks/ridemo/{conn.webhook_token}/",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_X_REQUEST_ID": "req-bare-hook",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
    }
    seen: dict = {}

    def start_response(status, headers, exc_info=None):
        seen.update(status=status, headers=dict(headers))

    # Keep the test's database connection open, as Django's test client does.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        answer = application(environ, start_response)
        b"".join(answer)
        answer.close()  # as the WSGI server does: the id is unbound with the response
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    assert seen["status"].startswith("200") and seen["headers"]["X-Request-ID"] == "req-bare-hook"
    assert Delivery.objects.get().headers["x-request-id"] == "req-bare-hook"
    assert current_request_id() is None
