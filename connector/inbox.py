"""Webhook inbox (DESIGN §7): the shared half of every integration's webhook view.

Every webhook view is a `connector.webhooks.WebhookEndpoint`: it finds the connection by its URL
token, verifies the vendor's signature (a refused or malformed delivery is recorded by
`reject_delivery`), then calls `accept_delivery`, which stores the Delivery *before* we answer 2xx (one
INSERT … ON CONFLICT), marks duplicates so they are recorded but processed once, and rings the inbox
doorbell after commit, best effort (`ring_doorbell_safely`: a stored delivery is always answered 2xx).

A duplicate is the *same delivery*, which a vendor's delivery id alone does not always say: the
integration's webhook code computes the dedupe key (`id_and_body_key` where ids repeat, or the
vendor's own event identity where it is unique), and a second partial unique constraint on the body
hash catches a vendor re-sending the same topic and body under a new id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections, models, transaction
from django.db import connection as db_connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from django.http import HttpRequest, HttpResponse
from django.http.request import HttpHeaders
from django.utils import timezone

from connector.dispatch import DRAIN_INBOX, send
from connector.models import Connection, Delivery

logger = logging.getLogger(__name__)

INBOX_QUEUE = "inbox:waiting"
INBOX_DOORBELL = "inbox:doorbell"
# A drain that died holding the doorbell blocks new drains for at most this long.
DOORBELL_TTL_MS = 5000
# Kept for every vendor; an integration names its own in `kept_headers(request, extra)`. The request
# id (connector.logs.RequestIdMiddleware) lets the task processing a delivery log under it.
KEPT_HEADERS = ("content-type", "user-agent", "x-request-id")


class BodyTooLarge(Exception):
    pass


def read_body(request: HttpRequest, limit: int | None = None) -> bytes:
    """The raw body, refused before reading when larger than WEBHOOK_MAX_BODY_BYTES."""
    limit = limit or settings.WEBHOOK_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise BodyTooLarge(f"body of {declared} bytes exceeds {limit}")
    body = request.read(limit + 1)
    if len(body) > limit:
        raise BodyTooLarge(f"body exceeds {limit} bytes")
    return body


def body_hash(topic: str, body: bytes) -> str:
    return hashlib.sha256(topic.encode() + b"\0" + body).hexdigest()


def dedupe_key(topic: str, delivery_id: str, body: bytes) -> str:
    """The default key: the vendor's delivery id when it names one event only, else the body hash."""
    if delivery_id:
        return f"id:{delivery_id}"[:200]
    return "sha256:" + body_hash(topic, body)


def id_and_body_key(delivery_id: str, topic: str, body: bytes) -> str:
    """Same delivery id *and* same topic + body: for vendors whose ids repeat across deliveries
    (an id that is a hash of the hook and the current second names every delivery in that second)."""
    return f"id+body:{delivery_id[:120]}:{body_hash(topic, body)}"


def kept_headers(request: HttpRequest, extra: tuple[str, ...] = ()) -> dict:
    """Only the headers that matter for processing and audit; never Authorization or cookies.
    Read from the WSGI environ by name: building `request.headers` (every header) cost more."""
    meta = request.META
    return {name: meta[key] for name, key in _environ_keys(tuple(extra)) if key in meta}


@lru_cache(maxsize=64)
def _environ_keys(extra: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(header name in lower case, its WSGI environ key) of each kept header."""
    names = dict.fromkeys((*KEPT_HEADERS, *(h.lower() for h in extra)))
    return tuple((name, HttpHeaders.to_wsgi_name(name)) for name in names)


# Webhook bursts look the same connection up hundreds of times a second: keep it briefly per process.
# A connection disabled or re-keyed meanwhile is seen within this many seconds; a signature that
# fails against a cached secret is checked again against a fresh read (`hook_connection(fresh=True)`).
HOOK_CACHE_SECONDS = 10.0
_hook_cache: dict[tuple, tuple[float, Connection | None]] = {}


def forget_hook_token(token: str) -> None:
    """Drop this process's cached lookups of a webhook URL token (a rotated token must 404 at once)."""
    for key in [k for k in list(_hook_cache) if k[1] == token]:  # list(): other threads may insert
        _hook_cache.pop(key, None)


def hook_connection(system: str, token: str, *fields: str, fresh: bool = False) -> Connection | None:
    """The active connection a webhook URL token names, or None.

    With `fields` only those columns (plus id, organisation and status) are read, and the answer is
    cached for HOOK_CACHE_SECONDS in this process; without, a full row is read every time.
    """
    key = (system, token, fields)
    now = time.monotonic()
    if fields and not fresh:
        hit = _hook_cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
    query = Connection.objects.filter(system=system, webhook_token=token).order_by()
    if fields:
        query = query.only("id", "organization_id", "status", *fields)
    found = next(iter(query[:1]), None)
    if found is not None and found.status == Connection.Status.DISABLED:
        found = None
    if fields:
        if len(_hook_cache) > 10_000:
            _hook_cache.clear()
        _hook_cache[key] = (now + HOOK_CACHE_SECONDS, found)
    return found


@lru_cache(maxsize=1)
def _insert_fields() -> tuple:
    return tuple(f for f in Delivery._meta.concrete_fields if not f.primary_key)


@lru_cache(maxsize=1)
def _columns() -> tuple[str, str, str]:
    """The quoted table, column list and pk column, from the model's own metadata."""
    quote = db_connection.ops.quote_name
    meta = Delivery._meta
    return quote(meta.db_table), ", ".join(quote(f.column) for f in _insert_fields()), quote(meta.pk.column)


@lru_cache(maxsize=4)
def _insert_sql(vendor: str) -> str:
    """The first copy, or nothing on a conflict (`_insert_first`). Values always go as parameters."""
    table, columns, pk = _columns()
    placeholders = ", ".join(["%s"] * len(_insert_fields()))
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) "  # noqa: S608 (model metadata only)
        f"ON CONFLICT DO NOTHING RETURNING {pk}"
    )


@lru_cache(maxsize=1)
def _first_or_duplicate_sql() -> str:
    """PostgreSQL: the first copy, or else the duplicate row, in one statement (`_store_first_or_duplicate`).

    The second INSERT reads the first one's RETURNING rows, so it runs only when the first hit a
    conflict; its row is not first, so no partial unique constraint applies to it. Each value is one
    named parameter used by both INSERTs, so a duplicate costs no second copy of the body on the wire.
    """
    table, columns, pk = _columns()
    first = ", ".join(f"%({f.attname})s" for f in _insert_fields())
    copy = ", ".join(_DUPLICATE_VALUES.get(f.attname, f"%({f.attname})s") for f in _insert_fields())
    return (
        f"WITH first AS (INSERT INTO {table} ({columns}) VALUES ({first}) "  # noqa: S608 (model metadata only)
        f"ON CONFLICT DO NOTHING RETURNING {pk}), "
        f"copy AS (INSERT INTO {table} ({columns}) SELECT {copy} "
        f"WHERE NOT EXISTS (SELECT 1 FROM first) RETURNING {pk}) "
        f"SELECT {pk}, TRUE FROM first UNION ALL SELECT {pk}, FALSE FROM copy"
    )


# What a duplicate row holds instead of the first copy's values (model choices, never request data).
_DUPLICATE_VALUES = {"is_first": "FALSE", "status": f"'{Delivery.Status.DUPLICATE.value}'"}


def _params(delivery: Delivery) -> list:
    return [f.get_db_prep_save(f.pre_save(delivery, True), db_connection) for f in _insert_fields()]


@lru_cache(maxsize=1)
def _postgresql_fields() -> tuple[tuple[str, object], ...]:
    """(attname, field to prepare the value with, or None: psycopg takes the value as it is).

    On PostgreSQL only the JSON column needs Django's preparation (psycopg's Jsonb wrapper); the
    strings, bytes, booleans, integers and aware datetimes a delivery holds are bound as they are.
    Preparing all seventeen through Django cost more than the rest of building the row. No field here
    has a pre_save (no auto_now): defaults are applied when the Delivery is built.
    """
    return tuple((f.attname, f if isinstance(f, models.JSONField) else None) for f in _insert_fields())


def _postgresql_params(delivery: Delivery, db: BaseDatabaseWrapper) -> dict:
    return {
        name: field.get_db_prep_save(getattr(delivery, name), db) if field else getattr(delivery, name)
        for name, field in _postgresql_fields()
    }


def _fetch_one(db: BaseDatabaseWrapper, sql: str, params: list | dict) -> tuple | None:
    """One statement, one row, on the request's connection, without Django's per-request health check.

    CONN_HEALTH_CHECKS costs a `SELECT 1` round trip before the first query of every request; on the
    webhook path that was a third of the time per delivery. Here the statement itself is the check:
    outside a transaction, when it fails because the kept connection is dead (the database restarted,
    an idle connection cut), the connection is replaced and the statement runs once more. Running it
    twice is safe: had the first attempt committed, the second finds that row and records a duplicate.
    """
    retry = not db.in_atomic_block
    if retry:
        db.health_check_done = True
    try:
        return _execute(db, sql, params)
    except (OperationalError, InterfaceError):
        if not retry or (db.connection is not None and db.is_usable()):
            raise
        db.close()
    return _execute(db, sql, params)


def _execute(db: BaseDatabaseWrapper, sql: str, params: list | dict) -> tuple | None:
    with _cursor(db) as cursor:
        if db.vendor == "postgresql" and not db.queries_logged:
            with db.wrap_database_errors:
                cursor.cursor.execute(sql, params, prepare=True)
        else:
            cursor.execute(sql, params)
        return cursor.fetchone()


# psycopg prepares a query after this many executions; no query but the ones asked for reaches it.
PREPARE_ONLY_WHEN_ASKED = 2**31 - 1


def _cursor(db: BaseDatabaseWrapper) -> CursorWrapper:
    """Django's cursor; on PostgreSQL one that binds values server-side (psycopg's plain `Cursor`).

    Django's default psycopg cursor quotes every value into the SQL text in Python, a tenth of a web
    worker's CPU per delivery here; bound server-side, the values travel as they are. The cursor is
    wrapped as Django wraps its own (database errors translated, queries logged under DEBUG).
    """
    if db.vendor != "postgresql":
        return db.cursor()
    from psycopg import Cursor

    db.ensure_connection()
    pg = db.connection
    if pg.prepare_threshold is None:
        # Django opens psycopg connections with prepared statements off (prepare_threshold None), and
        # psycopg then ignores `execute(prepare=True)`: the webhook INSERT was parsed and planned
        # again for every delivery (a third of PostgreSQL's time per delivery). A threshold no query
        # reaches by count keeps every other query unprepared and lets `prepare=True` take effect.
        pg.prepare_threshold = PREPARE_ONLY_WHEN_ASKED
    raw = Cursor(pg)
    return db.make_debug_cursor(raw) if db.queries_logged else db.make_cursor(raw)


def _insert_first(db: BaseDatabaseWrapper, delivery: Delivery) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: one round trip, no explicit transaction.

    Returns the new id, or None when a first delivery with the same key or body already exists
    (the partial unique constraints `delivery_first_key` / `delivery_first_body`). PostgreSQL and
    SQLite (3.35+) both take this statement; Django's bulk_create(ignore_conflicts=True) cannot
    return the id, hence the hand-built statement over the model's own field preparation.
    """
    row = _fetch_one(db, _insert_sql(db.vendor), _params(delivery))
    return row[0] if row else None


def _store_first_or_duplicate(delivery: Delivery) -> None:
    """Store `delivery` as the first copy, or else as a duplicate (not first, status DUPLICATE).

    PostgreSQL does both in one statement, so a vendor re-sending a burst costs one round trip per
    copy as a new delivery does; elsewhere the duplicate is a second INSERT after the conflict.
    """
    db = connections[DEFAULT_DB_ALIAS]  # once: each use of django.db.connection is a lookup by thread
    if db.vendor != "postgresql":
        delivery.pk = _insert_first(db, delivery)
        if delivery.pk is None:
            _mark_duplicate(delivery)
            delivery.save(force_insert=True)
        return
    params = _postgresql_params(delivery, db)
    _mark_duplicate(delivery)
    row = _fetch_one(db, _first_or_duplicate_sql(), params)
    delivery.pk, delivery.is_first = row
    if delivery.is_first:
        delivery.status = Delivery.Status.RECEIVED


def _mark_duplicate(delivery: Delivery) -> None:
    delivery.is_first = False
    delivery.status = Delivery.Status.DUPLICATE


def accept_delivery(
    connection: Connection,
    *,
    topic: str,
    body: bytes,
    headers: dict,
    delivery_id: str = "",
    key: str | None = None,
    signature_valid: bool | None = None,
) -> Delivery:
    """Store a verified delivery and ring the inbox doorbell; a duplicate is stored, not processed.

    A duplicate has the same dedupe `key` (the integration's; by default `dedupe_key`: the delivery
    id, or the body hash without one), or the same topic and body (a vendor re-sending under a new
    id). The first copy wins in the database itself, so two copies arriving at once on two workers
    still give exactly one processed delivery.
    """
    delivery = Delivery(
        organization_id=connection.organization_id,
        connection_id=connection.pk,
        topic=topic[:100],
        delivery_id=delivery_id[:200],
        dedupe_key=(key or dedupe_key(topic, delivery_id, body))[:200],
        body_hash=body_hash(topic, body),
        headers=headers,
        body=body,
        signature_valid=signature_valid,
        status=Delivery.Status.RECEIVED,
        is_first=True,
    )
    _store_first_or_duplicate(delivery)
    delivery._state.adding = False
    if not delivery.is_first:
        return delivery
    pk = delivery.pk
    transaction.on_commit(lambda: ring_doorbell_safely(pk))
    return delivery


def ring_doorbell(*delivery_ids: int) -> None:
    """Queue a stored delivery for processing: one Redis round trip, a Celery message only when idle.

    The Delivery row is the durable record; Redis holds the ids waiting and a doorbell key. Only the
    request that sets the doorbell publishes `drain_inbox`, which fans the waiting ids out to
    `process_delivery` tasks, so a burst of deliveries costs one Celery publish, not one each. A
    lost id (Redis restarted) is found again by `connector.tasks.requeue_deliveries` from the row.
    Raises when Redis or the broker is down: request paths call `ring_doorbell_safely`.
    """
    if _ring(delivery_ids):
        send(DRAIN_INBOX)


# RPUSH the ids and SET the doorbell if idle, as one command: a pipeline of the two cost the web
# worker twice the client-side work per delivery for the same single round trip.
_DOORBELL_LUA = """
redis.call('RPUSH', KEYS[1], unpack(ARGV, 2))
return redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1])
"""


def _ring(delivery_ids: tuple[int, ...]) -> bool:
    """True when this call set the doorbell (the inbox was idle)."""
    from connector.redis import get_redis

    global _doorbell_script
    client = get_redis()
    if _doorbell_script is None:
        _doorbell_script = client.register_script(_DOORBELL_LUA)  # EVALSHA; loaded again after a flush
    rang = False
    for start in range(0, len(delivery_ids), RING_CHUNK):  # Lua's unpack() takes a few thousand at most
        chunk = delivery_ids[start : start + RING_CHUNK]
        rang |= bool(
            _doorbell_script(keys=[INBOX_QUEUE, INBOX_DOORBELL], args=[DOORBELL_TTL_MS, *chunk], client=client)
        )
    return rang


RING_CHUNK = 1000


_doorbell_script = None


# Rings that failed in this process (Redis or the broker down), beside the warning each one logs.
doorbell_failures = 0


def ring_doorbell_safely(*delivery_ids: int) -> bool:
    """Ring the doorbell, best effort: False (logged and counted) when Redis or the broker is down.

    The deliveries are stored already, so the sender must get its 2xx whatever happens here (a
    vendor that sees errors retries, then disables the webhook); the rows are marked due at once, and
    the sweep (`connector.tasks.requeue_deliveries`) queues them when the queue is back.
    """
    global doorbell_failures
    try:
        ring_doorbell(*delivery_ids)
    except Exception:
        doorbell_failures += 1
        logger.warning("inbox doorbell failed; the sweep queues the deliveries", exc_info=True)
        Delivery.objects.filter(
            pk__in=delivery_ids, status=Delivery.Status.RECEIVED, next_attempt_at__isnull=True
        ).update(next_attempt_at=timezone.now())
        return False
    return True


REPLAYABLE = (Delivery.Status.FAILED,)
REPLAY_RECHECK = timedelta(minutes=2)


def replay_delivery(delivery: Delivery) -> bool:
    """Queue a failed delivery again (the page's and the API's Replay); False for any other status:
    refused deliveries (bad signature) and duplicates are kept for the audit, never processed."""
    with transaction.atomic():
        # A person's replay gets a full set of tries; the sweep looks again if this one is lost.
        changed = Delivery.objects.filter(pk=delivery.pk, status__in=REPLAYABLE).update(
            status=Delivery.Status.RECEIVED, error="", attempts=0, next_attempt_at=timezone.now() + REPLAY_RECHECK
        )
        if changed:
            pk = delivery.pk
            transaction.on_commit(lambda: ring_doorbell_safely(pk))
    return bool(changed)


# A refused body is unauthenticated: keep enough of it for the audit, not whatever a forger sends.
REFUSED_BODY_BYTES = 65536
# The dedupe key of a malformed delivery: the deliveries page answers "HTTP 400" from it.
MALFORMED_PREFIX = "malformed:"


def reject_delivery(
    connection: Connection,
    *,
    topic: str,
    body: bytes,
    headers: dict,
    reason: str,
    status: str = Delivery.Status.REJECTED,
    malformed: bool = False,
    delivery_id: str = "",
    signature_valid: bool | None = False,
    answered: int = 401,
) -> Delivery:
    """Record a delivery we did not accept (refused, or a body we cannot read): in the audit, never
    processed. REJECTED is final; a FAILED one (an authentic body we could not parse) can be replayed."""
    hashed = body_hash(topic, body)
    key = MALFORMED_PREFIX + hashed if malformed else dedupe_key(topic, "", body)
    return Delivery.objects.create(
        organization_id=connection.organization_id,
        connection=connection,
        topic=topic[:100],
        delivery_id=delivery_id[:200],
        dedupe_key=key,
        headers=headers,
        body=body if status == Delivery.Status.FAILED else body[:REFUSED_BODY_BYTES],
        signature_valid=signature_valid,
        status=status,
        error=reason[:2000],
        answered=answered,
    )


# The two answers to an accepted delivery, encoded once (every delivery of a burst gets one).
_ACCEPTED = {dup: json.dumps({"ok": True, "duplicate": dup}).encode() for dup in (False, True)}


def accepted(delivery: Delivery) -> HttpResponse:
    duplicate = delivery.status == Delivery.Status.DUPLICATE
    return HttpResponse(_ACCEPTED[duplicate], content_type="application/json")
