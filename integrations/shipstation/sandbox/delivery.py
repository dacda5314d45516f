"""The sandbox's webhook sender: POSTs `{resource_url, resource_type}` to subscribers.

V1 pointers name the sandbox under its other loopback host name (`pointer_root`), so the client's
follow path (allow-listed host, URL rebuilt on its own base) is exercised as with real ShipStation.

V2 subscriptions get RSA-SHA256 signed deliveries (`x-shipengine-*` headers, key in the sandbox JWKS).

Calls are durable outbox rows (`SandboxWebhookCall`, `connector.sandbox.outbox`) written with the
change that causes them, sent after the transaction commits in a background thread, or by
`deliver_pending()` which tests and the demo call directly. Each call is claimed with a
compare-and-set, so a thread and a test never send it twice; a call whose sender died is sent by the
outbox sweep (accounts with `auto_deliver_webhooks` off are left to `deliver_pending`).

Retries: ShipStation documents none (SHIPSTATION.md §A8 and §B4: "Retries: not documented. Do not
rely on redelivery ... Also expect duplicates"), so a call that got an answer other than 2xx is not
tried again (`max_attempts=1`: never friendlier than the vendor). A call cut off mid-POST is sent
again, which may duplicate it, as the docs tell receivers to expect. The `duplicate_webhook_rate`
knob sends some calls twice, as real senders sometimes do.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import requests

from connector.http import loopback_alias
from connector.sandbox import outbox
from integrations.shipstation.sandbox.models import SandboxWebhookCall

_local = threading.local()


@contextmanager
def serving_base_url(url: str) -> Iterator[None]:
    """The sandbox root of the request being served, so pointers name the host the client used.

    Only while that request is served: the value is restored afterwards. A thread serves many requests
    (the Django test client runs views on the test's own thread), and a root left behind would name a
    server that may be gone in the pointers of later work on that thread."""
    previous = current_base_url()
    _local.base_url = url
    try:
        yield
    finally:
        _local.base_url = previous


def current_base_url() -> str | None:
    return getattr(_local, "base_url", None)


def pointer_root(root: str) -> str:
    """The sandbox root as V1 webhook pointers name it: on the OTHER loopback name of the host the
    client used (`localhost` <-> `127.0.0.1`, same scheme and port), as real V1 bodies name
    `ssapi6.shipstation.com` while the client calls `ssapi.shipstation.com`. Any other host is kept."""
    parts = urlsplit(root)
    alias = loopback_alias(parts.hostname or "")
    if alias is None:
        return root
    netloc = alias if parts.port is None else f"{alias}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


class ShipStationOutbox(outbox.Outbox):
    name = "shipstation"
    model = SandboxWebhookCall
    schedule = outbox.Schedule(max_attempts=1, resend_interrupted=True)
    timeout = 5.0

    def rows(self):
        return SandboxWebhookCall.objects.select_related("webhook__account")

    def sweepable(self):
        return self.rows().filter(webhook__account__auto_deliver_webhooks=True)

    def deliver(self, call: SandboxWebhookCall) -> outbox.Attempt:
        from integrations.shipstation.sandbox.faults import dice

        account = call.webhook.account
        times = 2 if dice(account).random() < account.duplicate_webhook_rate else 1
        status, error = None, ""
        data, headers = _payload(call)
        for _ in range(times):
            try:
                response = requests.post(
                    call.webhook.target_url, data=data, headers=headers, timeout=self.timeout, allow_redirects=False
                )
                status = response.status_code
            except requests.RequestException as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
        return outbox.Attempt(ok=bool(status and 200 <= status < 300), status=status, error=error)


OUTBOX = outbox.register(ShipStationOutbox())


def deliver_pending(ids: list[int] | None = None) -> list[SandboxWebhookCall]:
    """Send the pending calls (of `ids` when given) now, whatever their schedule; the calls sent."""
    return OUTBOX.send(ids, ignore_schedule=True)


def _payload(call: SandboxWebhookCall) -> tuple[bytes, dict[str, str]]:
    """The body bytes and headers; V2 calls are signed now, as they are sent (SHIPSTATION.md §B4)."""
    data = json.dumps(call.body).encode()
    headers = {"Content-Type": "application/json"}
    if call.webhook.api_version == "v2":
        from integrations.shipstation.sandbox import keys
        from integrations.shipstation.signing import KEY_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, utc_stamp

        for extra in call.webhook.headers or []:
            headers[str(extra["key"])] = str(extra["value"])
        key = keys.current_key()
        stamp = utc_stamp()
        headers[TIMESTAMP_HEADER] = stamp
        headers[KEY_ID_HEADER] = key.kid
        headers[SIGNATURE_HEADER] = sign(keys.private_key(key), stamp, data)
    return data, headers


def deliver_in_background(ids: list[int]) -> threading.Thread:
    return OUTBOX.send_in_background(ids)
