"""The sandboxes' webhook outbox survives a dead sender, with each vendor's own retry behaviour.

Every test drives a real sandbox (its models and send path) against a receiver the test starts on
127.0.0.1, over real HTTP. "The sender died" is simulated the two ways a process dies: after the
commit but before its sender ran (the after-commit hook never runs), and with a row claimed or mid-
POST (the row is left `claimed` / `sending`). The sweep runs with an explicit `now` to stand for the
time that passes; it must send what is owed exactly once, and never more than the vendor would.

Vendor behaviour checked here:
- WooCommerce never retries a delivery and disables a webhook on the 7th consecutive failure
  (`WC_Webhook::log_delivery()` / `failed_delivery()`, woocommerce/woocommerce
  plugins/woocommerce/includes/class-wc-webhook.php: `$failures > 5` disables, else `++$failures`);
  its Action Scheduler releases claims older than five minutes and marks an action running longer
  than five minutes failed (Action Scheduler docs, "Housekeeping").
- ShipStation documents no retries and tells receivers to expect duplicates (SHIPSTATION.md §A8).
- Exact retries about 10 times with a 2^n-minute back-off (EXACT.md §7.2).
"""

from __future__ import annotations

import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connections, transaction
from django.utils import timezone

from connector.sandbox import outbox
from integrations.exact.sandbox import state as exact_state
from integrations.exact.sandbox import webhooks as exact_webhooks
from integrations.exact.sandbox.models import SandboxExactWebhookDelivery, SandboxExactWebhookSubscription
from integrations.shipstation.sandbox import delivery as ss_delivery
from integrations.shipstation.sandbox import state as ss_state
from integrations.shipstation.sandbox.models import SandboxAccount, SandboxWebhook, SandboxWebhookCall
from integrations.woocommerce.sandbox import delivery as woo_delivery
from integrations.woocommerce.sandbox.models import SandboxDeliveryLog, SandboxWebhookOutbox
from integrations.woocommerce.sandbox.models import SandboxWebhook as WooWebhook
from integrations.woocommerce.sandbox.store import create_order
from integrations.woocommerce.sandbox.views import create_store

pytestmark = pytest.mark.django_db(transaction=True)  # commits happen, senders run after them


class Receiver:
    """An HTTP receiver on 127.0.0.1 answering scripted codes (then 200), recording every request."""

    def __init__(self):
        self.codes: list[int] = []
        self.requests: list[tuple[str, dict, bytes]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.requests.append((self.path, dict(self.headers), body))
                    code = receiver.codes.pop(0) if receiver.codes else 200
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def later(**kwargs):
    return timezone.now() + timedelta(**kwargs)


# --- WooCommerce ------------------------------------------------------------------------------------


@pytest.fixture
def woo(alice, receiver):
    store = create_store("outbox-shop", organization=alice.org)
    hook = WooWebhook.objects.create(store=store, topic="order.created", delivery_url=receiver.url, secret="s3cret")
    return store, hook


def _woo_order(store):
    return create_order(store, {"billing": {"email": "a@example.com"}, "line_items": [{"sku": "WOO-HAT"}]})


def test_woocommerce_delivery_whose_sender_never_ran_is_sent_once_by_the_sweep(woo, receiver, monkeypatch):
    store, hook = woo
    monkeypatch.setattr(woo_delivery, "dispatch", lambda store_id, ids: None)  # the process died after commit
    order = _woo_order(store)
    row = SandboxWebhookOutbox.objects.get()
    assert (row.status, row.attempts, receiver.requests) == ("pending", 0, [])

    assert woo_delivery.OUTBOX.sweep().sent == 0  # its own sender may still be coming (Action Scheduler's minute)
    assert woo_delivery.OUTBOX.sweep(now=later(minutes=2)).sent == 1
    (path, headers, body) = receiver.requests[0]
    assert headers["X-WC-Webhook-Topic"] == "order.created" and f'"id":{order.pk}'.encode() in body
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_status) == ("sent", 1, 200) and row.delivered_at
    # Swept again, later still: nothing goes out twice.
    outbox.sweep_all(now=later(hours=1))
    assert len(receiver.requests) == 1 and SandboxDeliveryLog.objects.filter(webhook=hook).count() == 1


def test_woocommerce_claimed_but_never_sent_is_released_after_the_claim_timeout(woo, receiver, monkeypatch):
    store, _ = woo
    monkeypatch.setattr(woo_delivery, "dispatch", lambda store_id, ids: None)
    _woo_order(store)
    row = SandboxWebhookOutbox.objects.get()
    SandboxWebhookOutbox.objects.filter(pk=row.pk).update(status="claimed", claimed_at=timezone.now())  # then died

    assert woo_delivery.OUTBOX.sweep(now=later(minutes=4)).released == 0  # still within the 5-minute claim
    result = woo_delivery.OUTBOX.sweep(now=later(minutes=6))
    assert (result.released, result.sent) == (1, 1) and len(receiver.requests) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("sent", 1)


def test_woocommerce_delivery_cut_off_mid_post_fails_as_action_scheduler_marks_it(woo, receiver, monkeypatch):
    store, _ = woo
    monkeypatch.setattr(woo_delivery, "dispatch", lambda store_id, ids: None)
    _woo_order(store)
    SandboxWebhookOutbox.objects.update(status="sending", claimed_at=timezone.now())  # died during the POST

    result = woo_delivery.OUTBOX.sweep(now=later(minutes=6))
    row = SandboxWebhookOutbox.objects.get()
    assert (result.interrupted, result.sent) == (1, 0) and receiver.requests == []
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, outbox.INTERRUPTED)


def test_woocommerce_never_retries_and_disables_the_webhook_on_the_seventh_failure(woo, receiver):
    store, hook = woo
    receiver.codes = [500] * 20
    for _ in range(7):
        _woo_order(store)
    hook.refresh_from_db()
    assert hook.status == "disabled" and len(receiver.requests) == 7
    assert set(SandboxWebhookOutbox.objects.values_list("status", "attempts", "last_status")) == {("failed", 1, 500)}
    outbox.sweep_all(now=later(days=2))  # no retries, whatever time passes
    _woo_order(store)  # a disabled webhook queues nothing
    assert len(receiver.requests) == 7 and SandboxWebhookOutbox.objects.count() == 7


def test_woocommerce_success_resets_the_failure_count(woo, receiver):
    store, hook = woo
    receiver.codes = [500] * 6 + [302]  # 302 counts as delivered for WooCommerce
    for _ in range(7):
        _woo_order(store)
    hook.refresh_from_db()
    assert (hook.status, hook.failure_count) == ("active", 0)
    assert SandboxWebhookOutbox.objects.order_by("-id").first().status == "sent"


# --- ShipStation -------------------------------------------------------------------------------------


@pytest.fixture
def ss_account(alice, receiver):
    account = SandboxAccount.objects.create(organization=alice.org)
    SandboxWebhook.objects.create(account=account, event="ORDER_NOTIFY", target_url=receiver.url)
    return account


def _ss_notify(account):
    with transaction.atomic():
        return ss_state.queue_notifications(account, "ORDER_NOTIFY", "orders?importBatch=abc", base_url="http://x/")


def test_shipstation_call_whose_sender_never_ran_is_sent_by_the_sweep(ss_account, receiver, monkeypatch):
    monkeypatch.setattr(ss_delivery, "deliver_in_background", lambda ids: None)  # died before the thread ran
    (call_id,) = _ss_notify(ss_account)
    assert ss_delivery.OUTBOX.sweep().sent == 0
    assert ss_delivery.OUTBOX.sweep(now=later(minutes=1)).sent == 1
    call = SandboxWebhookCall.objects.get(pk=call_id)
    assert (call.status, call.attempts, call.response_status) == ("sent", 1, 200) and call.delivered_at
    assert [r[2] for r in receiver.requests] == [
        b'{"resource_url": "http://x/orders?importBatch=abc", "resource_type": "ORDER_NOTIFY"}'
    ]
    ss_delivery.OUTBOX.sweep(now=later(hours=1))
    assert len(receiver.requests) == 1


def test_shipstation_call_cut_off_mid_post_is_sent_again(ss_account, receiver, monkeypatch):
    """Outcome unknown: sent again, a possible duplicate, as ShipStation tells receivers to expect."""
    monkeypatch.setattr(ss_delivery, "deliver_in_background", lambda ids: None)
    (call_id,) = _ss_notify(ss_account)
    SandboxWebhookCall.objects.filter(pk=call_id).update(status="sending", claimed_at=timezone.now())
    result = ss_delivery.OUTBOX.sweep(now=later(minutes=3))
    call = SandboxWebhookCall.objects.get(pk=call_id)
    assert (result.interrupted, result.sent) == (1, 1) and len(receiver.requests) == 1
    assert (call.status, call.attempts) == ("sent", 2)


def test_shipstation_does_not_retry_a_refused_call(ss_account, receiver):
    receiver.codes = [500]
    (call_id,) = _ss_notify(ss_account)
    thread_done = _wait(lambda: SandboxWebhookCall.objects.get(pk=call_id).status == "failed")
    assert thread_done
    outbox.sweep_all(now=later(days=2))
    assert len(receiver.requests) == 1 and SandboxWebhookCall.objects.get(pk=call_id).last_status == 500


def test_shipstation_accounts_that_deliver_by_hand_are_left_to_the_test(ss_account, receiver):
    SandboxAccount.objects.filter(pk=ss_account.pk).update(auto_deliver_webhooks=False)
    ss_account.refresh_from_db()
    (call_id,) = _ss_notify(ss_account)
    assert ss_delivery.OUTBOX.sweep(now=later(hours=1)).sent == 0 and receiver.requests == []
    assert [c.pk for c in ss_delivery.deliver_pending()] == [call_id] and len(receiver.requests) == 1


def _wait(predicate, seconds: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


# --- Exact Online -------------------------------------------------------------------------------------


@pytest.fixture
def exact_division(alice, receiver):
    _, (division,) = exact_state.create_company("nl", "outbox@example.com", "Outbox BV", organization=alice.org)
    SandboxExactWebhookSubscription.objects.create(
        guid="6f1f2d2e-0000-4000-8000-000000000001",
        division=division,
        user=division.user,
        client_id="client",
        topic="SalesOrders",
        callback_url=receiver.url,
    )
    return division


def _exact_change(division):
    order = exact_state.SandboxExactEntity.objects.filter(division=division, entity="SalesOrders").first()
    exact_state.put(division, "SalesOrders", {**order.data, "Remarks": "changed"}, guid=order.guid)


def test_exact_receiver_answering_500_then_200_gets_it_on_the_retry(exact_division, receiver):
    receiver.codes = [500]
    _exact_change(exact_division)
    row = SandboxExactWebhookDelivery.objects.get()
    assert (row.status, row.attempts, row.last_status) == ("pending", 1, 500) and len(receiver.requests) == 1
    assert exact_webhooks.OUTBOX.sweep(now=later(minutes=1)).sent == 0  # Exact waits 2 minutes first
    assert exact_webhooks.OUTBOX.sweep(now=later(minutes=3)).sent == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_status) == ("sent", 2, 200) and row.delivered_at
    assert receiver.requests[0][2] == receiver.requests[1][2]  # the same signed notification
    outbox.sweep_all(now=later(days=3))
    assert len(receiver.requests) == 2  # delivered: never sent again


def test_exact_delivery_whose_sender_died_is_sent_by_the_sweep(exact_division, receiver, monkeypatch):
    monkeypatch.setattr(exact_webhooks.OUTBOX, "send_after_commit", lambda ids: None)
    _exact_change(exact_division)
    assert receiver.requests == [] and SandboxExactWebhookDelivery.objects.get().status == "pending"
    assert exact_webhooks.OUTBOX.sweep(now=later(minutes=1)).sent == 1
    assert SandboxExactWebhookDelivery.objects.get().delivered and len(receiver.requests) == 1


def test_exact_gives_up_after_its_ten_retries(exact_division, receiver):
    receiver.codes = [503] * 50
    _exact_change(exact_division)
    moment = timezone.now()
    for _ in range(30):
        moment += timedelta(hours=12)
        exact_webhooks.OUTBOX.sweep(now=moment)
    row = SandboxExactWebhookDelivery.objects.get()
    assert row.gave_up and row.attempts == 11 and len(receiver.requests) == 11


# --- Every outbox ------------------------------------------------------------------------------------


def test_concurrent_sweeps_send_a_row_once(woo, receiver, monkeypatch):
    store, _ = woo
    monkeypatch.setattr(woo_delivery, "dispatch", lambda store_id, ids: None)
    for _ in range(5):
        _woo_order(store)
    moment = later(minutes=2)

    def sweeper():
        try:
            outbox.sweep_all(now=moment)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweeper) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(receiver.requests) == 5
    assert set(SandboxWebhookOutbox.objects.values_list("status", "attempts")) == {("sent", 1)}


def test_a_sandbox_request_nudges_the_sweep(woo, receiver, monkeypatch, live_server, settings):
    import requests

    from connector.redis import get_redis

    store, _ = woo
    monkeypatch.setattr(woo_delivery, "dispatch", lambda store_id, ids: None)
    _woo_order(store)
    SandboxWebhookOutbox.objects.update(created_at=timezone.now() - timedelta(minutes=5))  # its sender is long dead
    settings.SANDBOX_OUTBOX_SWEEP_SECONDS = 1
    get_redis().delete(outbox.NUDGE_KEY)
    monkeypatch.setattr(outbox, "_last_nudge", 0.0)

    requests.get(f"{live_server.url}/sandbox/woocommerce/{store.slug}/wp-json/wc/v3/", timeout=10)
    assert _wait(lambda: len(receiver.requests) == 1)
    assert SandboxWebhookOutbox.objects.get().status == "sent"
