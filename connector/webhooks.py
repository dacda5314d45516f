"""The one webhook endpoint (DESIGN §7): each integration's `/hooks/<system>/<token>/` view subclasses it.

`WebhookEndpoint.post` runs the same steps, in the same order, for every vendor:

1. the URL token names an active connection of `system`, else 404;
2. the body fits WEBHOOK_MAX_BODY_BYTES, else 413 (refused before it is read);
3. `is_handshake`: the vendor checking the address (a ping) → 200, nothing stored;
4. `verify`: the vendor's signature. `SignatureRefused` → 401 (the exception may say otherwise) and a
   rejected Delivery; `VerifyLater` → 503 so the sender retries, recorded the same way;
5. `parse` → `Parsed(topic, delivery_id, key)`; `Malformed` → 400 and a Delivery stored as
   `malformed_status` (rejected, or failed where an authentic body should stay replayable);
6. `check`: vendor rules on the parsed delivery (the connection's own account) → `Refused`;
7. `accept_delivery` (stored before we answer, duplicates recorded but processed once) → 200.

Subclasses keep their vendor facts in their own module and override only the hooks. A view instance
serves one request (Django's `View.as_view`), so a hook may leave what it learnt on `self` for the
next one (a signature check that already parsed the body).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from connector.inbox import (
    BodyTooLarge,
    accept_delivery,
    accepted,
    hook_connection,
    kept_headers,
    read_body,
    reject_delivery,
)
from connector.models import Connection, Delivery

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Parsed:
    """What the inbox needs from a delivery: its topic, the vendor's delivery id, the dedupe key
    (None: the inbox default, the delivery id or else the body hash)."""

    topic: str
    delivery_id: str = ""
    key: str | None = None


class Refused(Exception):
    """Not a delivery we accept from this sender: recorded as rejected, answered `status`."""

    status = 403
    topic = "refused"
    recorded_as = "Rejected"

    def __init__(self, reason: str, *, status: int | None = None, topic: str | None = None, answer: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status or self.status
        self.topic = topic or self.topic
        self.answer = answer or self.default_answer()

    def default_answer(self) -> str:
        return f"refused: {self.reason}"


class SignatureRefused(Refused):
    """The signature is missing, wrong or stale."""

    status = 401
    topic = "signature"

    def default_answer(self) -> str:
        return f"invalid signature: {self.reason}"


class VerifyLater(Refused):
    """The signature cannot be checked now (the vendor's keys unreachable): 503, the sender retries."""

    status = 503
    topic = "signature"
    recorded_as = "Not verified (retry expected)"

    def default_answer(self) -> str:
        return "signing keys unavailable; retry later"


class Malformed(Exception):
    """The body is not a delivery we can read; topic and delivery id as far as the request names them."""

    def __init__(self, reason: str, *, topic: str = "malformed", delivery_id: str = "") -> None:
        super().__init__(reason)
        self.reason, self.topic, self.delivery_id = reason, topic, delivery_id


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


class WebhookEndpoint(View):
    http_method_names = ["post"]
    #: The Connection.system whose URL tokens this endpoint takes.
    system: str = ""
    #: Vendor headers kept with the delivery for processing and audit (content-type and user-agent always).
    extra_headers: tuple[str, ...] = ()
    #: The connection column holding the signing secret. Set: the connection is read (that column only)
    #: through the inbox's short per-process cache, and read fresh once when a signature fails against
    #: the cached secret, which may have been rotated seconds ago. Empty: the full row, read every time.
    secret_field: str = ""
    #: How a malformed body is stored: REJECTED (final) or FAILED (an authentic body, replayable).
    malformed_status: str = Delivery.Status.REJECTED

    @classmethod
    def as_view(cls, **initkwargs):
        # Vendors sign (or hold a secret URL), never send a CSRF token. Marked on the view function
        # once: method_decorator(csrf_exempt) would wrap `dispatch` again on every request.
        return csrf_exempt(super().as_view(**initkwargs))

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        connection = self.connection(token)
        if connection is None:
            return _error(404, "unknown webhook")
        try:
            body = read_body(request)
        except BodyTooLarge as exc:
            return _error(413, str(exc))
        if self.is_handshake(request, body):
            return JsonResponse({"ok": True, "ping": True})
        headers = kept_headers(request, self.extra_headers)
        signature_valid = None
        try:
            connection, signature_valid = self.verified(request, body, connection, token)
            parsed = self.parse(request, body, connection)
            self.check(connection, parsed)
        except Refused as exc:
            return self.refuse(connection, exc, body=body, headers=headers)
        except Malformed as exc:
            return self.record_malformed(connection, exc, body=body, headers=headers, signature_valid=signature_valid)
        delivery = accept_delivery(
            connection,
            topic=parsed.topic,
            body=body,
            headers=headers,
            delivery_id=parsed.delivery_id,
            key=parsed.key,
            signature_valid=signature_valid,
        )
        return accepted(delivery)

    # --- Hooks a vendor overrides -------------------------------------------------------------------

    def is_handshake(self, request: HttpRequest, body: bytes) -> bool:
        """The vendor checking our address (a ping): answered 200, nothing stored."""
        return False

    def verify(self, request: HttpRequest, body: bytes, connection: Connection) -> bool | None:
        """True when the signature is good; None when this connection's deliveries are unsigned (the
        secret URL token is the only proof). Raises SignatureRefused, VerifyLater or Refused."""
        raise NotImplementedError("every webhook endpoint decides how its deliveries are verified")

    def parse(self, request: HttpRequest, body: bytes, connection: Connection) -> Parsed:
        """Topic, delivery id and dedupe key of a verified delivery; raises Malformed."""
        raise NotImplementedError

    def check(self, connection: Connection, parsed: Parsed) -> None:
        """Vendor rules on a parsed delivery (it names the connection's own account); raises Refused."""

    # --- The shared steps ---------------------------------------------------------------------------

    def connection(self, token: str, *, fresh: bool = False) -> Connection | None:
        fields = (self.secret_field,) if self.secret_field else ()
        return hook_connection(self.system, token, *fields, fresh=fresh)

    def verified(
        self, request: HttpRequest, body: bytes, connection: Connection, token: str
    ) -> tuple[Connection, bool | None]:
        """`verify`, and with a cached secret once more against a fresh read before refusing."""
        try:
            return connection, self.verify(request, body, connection)
        except SignatureRefused:
            if not self.secret_field:
                raise
        fresh = self.connection(token, fresh=True) or connection
        return fresh, self.verify(request, body, fresh)

    def refuse(self, connection: Connection, exc: Refused, *, body: bytes, headers: dict) -> JsonResponse:
        reason = f"{exc.recorded_as}: {exc.reason}"
        reject_delivery(connection, topic=exc.topic, body=body, headers=headers, reason=reason, answered=exc.status)
        logger.warning("%s webhook refused: %s", self.system, exc.reason, extra={"connection_id": connection.pk})
        return _error(exc.status, exc.answer)

    def record_malformed(
        self, connection: Connection, exc: Malformed, *, body: bytes, headers: dict, signature_valid: bool | None
    ) -> JsonResponse:
        reject_delivery(
            connection,
            topic=exc.topic,
            body=body,
            headers=headers,
            reason=f"Malformed: {exc.reason}",
            status=self.malformed_status,
            malformed=True,
            delivery_id=exc.delivery_id,
            signature_valid=signature_valid,
            answered=400,
        )
        return _error(400, f"malformed webhook: {exc.reason}")
