"""`/metrics`: the service's state in Prometheus's text format, for the operator (not a merchant page).

Computed when scraped, from what every process shares, never from one process's memory (gunicorn and
Celery workers are separate processes): counts from the database (deliveries, records, connections,
sync lag, token refresh trouble) and from Redis (queue depths, and the counters connector.metrics
keeps: vendor calls and 429s per system, failed Celery tasks). Labels are system names, statuses,
queue and task names only: no organisation, connection or record ever names a series.

Answers only `Authorization: Bearer <METRICS_TOKEN>` (compared in constant time): without a token
configured the page does not exist (404); a missing or wrong token is a 401.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from functools import lru_cache

import redis
from django.conf import settings
from django.db.models import Count, F, Min
from django.db.models.functions import Coalesce, Greatest
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from connector import metrics as counters
from connector.models import Alert, Connection, Delivery, Record
from connector.redis import get_redis, redis_py_url
from connector.web.charts import percentile

LAG_WINDOW = timedelta(hours=1)
LAG_SAMPLE_LIMIT = 50_000  # the newest records synced in the window that the quantiles are read from
LAG_QUANTILES = (0.5, 0.95)
# kombu's Redis transport keeps a queue's messages in the list named after it, and those sent with a
# priority in lists named `<queue>\x06\x16<step>`.
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)
_REDIS_SCHEMES = ("redis://", "rediss://", "redis+socket://", "unix://")


# --- Database --------------------------------------------------------------------------------------


def _counts(queryset, *fields: str) -> dict[tuple[str, ...], int]:
    rows = queryset.order_by().values_list(*fields).annotate(n=Count("id"))
    return {tuple(counters.label(str(v)) if v is not None else "unknown" for v in row[:-1]): row[-1] for row in rows}


def _by_status(name: str, documentation: str, found: dict, statuses: Iterable[str]) -> GaugeMetricFamily:
    """One series per known status (0 when none), so a status that empties does not vanish."""
    family = GaugeMetricFamily(name, documentation, labels=["status"])
    for status in sorted({*statuses, *(key[0] for key in found)}):
        family.add_metric([status], found.get((status,), 0))
    return family


def delivery_metrics(now: datetime) -> Iterator[Metric]:
    statuses = Delivery.Status.values
    yield _by_status(
        "connector_webhook_deliveries",
        "Webhook deliveries stored, by status (rejected: refused, e.g. a bad signature).",
        _counts(Delivery.objects.all(), "status"),
        statuses,
    )
    yield _by_status(
        "connector_webhook_deliveries_last_24h",
        "Webhook deliveries received in the last 24 hours, by status (rejected: refused).",
        _counts(Delivery.objects.filter(received_at__gte=now - timedelta(hours=24)), "status"),
        statuses,
    )


def record_metrics() -> Iterator[Metric]:
    yield _by_status(
        "connector_records",
        "Records (one per source object a flow moves), by status.",
        _counts(Record.objects.all(), "status"),
        Record.Status.values,
    )


def _seen_at():
    """When we could first know of a record's current version: its newest source change, but never
    before we stored the record (a backfill of old orders is not hours of lag)."""
    return Greatest(F("created_at"), Coalesce(F("source_modified_at"), F("created_at")))


def sync_lag_metrics(now: datetime) -> Iterator[Metric]:
    oldest = Record.objects.filter(status=Record.Status.PENDING).aggregate(at=Min(_seen_at()))["at"]
    yield GaugeMetricFamily(
        "connector_sync_oldest_pending_seconds",
        "How long the longest-waiting pending record has waited since its change was seen (0: none).",
        value=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
    )
    synced = (
        Record.objects.filter(synced_at__gte=now - LAG_WINDOW)
        .order_by("-synced_at")
        .annotate(seen=_seen_at())
        .values_list("seen", "synced_at")[:LAG_SAMPLE_LIMIT]
    )
    lags = sorted(max(0.0, (written - seen).total_seconds()) for seen, written in synced)
    family = GaugeMetricFamily(
        "connector_sync_lag_seconds",
        "Seconds from a change being seen to its record being synced, over the records synced in the last hour.",
        labels=["quantile"],
    )
    for quantile in LAG_QUANTILES:
        family.add_metric([str(quantile)], percentile(lags, quantile * 100))
    yield family
    yield GaugeMetricFamily("connector_records_synced_last_hour", "Records synced in the last hour.", value=len(lags))


def connection_metrics() -> Iterator[Metric]:
    family = GaugeMetricFamily(
        "connector_connections", "Connections, by system and status.", labels=["system", "status"]
    )
    for (system, status), n in sorted(_counts(Connection.objects.all(), "system", "status").items()):
        family.add_metric([system, status], n)
    yield family
    failing = Connection.objects.exclude(status=Connection.Status.DISABLED).filter(settings__oauth_failures__gt=0)
    yield _by_system(
        "connector_token_refresh_failing_connections",
        "Connections whose last OAuth token refresh failed (the vendor unreachable or erring), by system.",
        _counts(failing, "system"),
    )
    reauth = Alert.objects.filter(resolved_at__isnull=True, key__startswith="reauth:")
    yield _by_system(
        "connector_reauth_alerts_open",
        "Open alerts asking a person to reconnect (a refresh token refused), by system.",
        _counts(reauth, "connection__system"),
    )


def _by_system(name: str, documentation: str, found: dict) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=["system"])
    for (system,), n in sorted(found.items()):
        family.add_metric([system], n)
    return family


# --- Redis -----------------------------------------------------------------------------------------


def counter_metrics() -> Iterator[Metric]:
    calls = CounterMetricFamily(
        "connector_vendor_calls",
        "Calls to vendor APIs, by system and answer (2xx … 5xx; error: no answer).",
        labels=["system", "status"],
    )
    for key, n in sorted(counters.read_counts(counters.VENDOR_CALLS).items()):
        if len(key) == 2:
            calls.add_metric(list(key), n)
    yield calls
    yield _counter(
        "connector_vendor_rate_limited",
        "Vendor answers of HTTP 429, by system.",
        "system",
        counters.VENDOR_RATE_LIMITED,
    )
    yield _counter(
        "connector_celery_task_failures",
        "Celery tasks that ended in an error, by task.",
        "task",
        counters.TASK_FAILURES,
    )


def _counter(name: str, documentation: str, label: str, key: str) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=[label])
    for (value, *_), n in sorted(counters.read_counts(key).items()):
        family.add_metric([value], n)
    return family


def celery_queues() -> list[str]:
    """Every queue tasks are routed to: the default, the core's routes and the registered systems'."""
    from connector.registry import task_routes

    names = {settings.CELERY_TASK_DEFAULT_QUEUE}
    for route in settings.CELERY_TASK_ROUTES:
        if isinstance(route, dict):
            names.update(options["queue"] for options in route.values() if options.get("queue"))
    names.update(queue for _pattern, queue in task_routes())
    return sorted(names)


@lru_cache(maxsize=4)
def _broker_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_py_url(url), socket_timeout=2, socket_connect_timeout=2)


def broker_redis() -> redis.Redis | None:
    """The broker when it is Redis (queue depths are list lengths there); None for any other broker."""
    url = settings.CELERY_BROKER_URL or ""
    if url == settings.REDIS_URL:
        return get_redis()
    return _broker_client(url) if url.startswith(_REDIS_SCHEMES) else None


def queue_metrics() -> Iterator[Metric]:
    from connector.inbox import INBOX_QUEUE

    family = GaugeMetricFamily(
        "connector_queue_depth",
        "Messages waiting: each Celery queue, and the webhook inbox (deliveries stored, not yet fanned out).",
        labels=["queue"],
    )
    family.add_metric(["inbox"], get_redis().llen(INBOX_QUEUE))
    broker = broker_redis()
    if broker is not None:
        queues = celery_queues()
        pipe = broker.pipeline(transaction=False)
        for queue in queues:
            for key in (queue, *(f"{queue}{_PRIORITY_SEPARATOR}{step}" for step in _PRIORITY_STEPS)):
                pipe.llen(key)
        lengths = pipe.execute()
        steps = 1 + len(_PRIORITY_STEPS)
        for i, queue in enumerate(queues):
            family.add_metric([queue], sum(lengths[i * steps : (i + 1) * steps]))
    yield family


def redis_metrics() -> Iterator[Metric]:
    """The Redis-kept numbers, with `connector_redis_up` 0 (and none of them) when Redis does not answer."""
    try:
        found = [*counter_metrics(), *queue_metrics()]
    except (redis.RedisError, OSError):
        found = []
    yield GaugeMetricFamily("connector_redis_up", "1 when Redis answered this scrape.", value=1 if found else 0)
    yield from found


# --- The page --------------------------------------------------------------------------------------


class ConnectorCollector:
    """A prometheus_client collector whose numbers are read at scrape time (see the module docstring)."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        yield from delivery_metrics(now)
        yield from record_metrics()
        yield from sync_lag_metrics(now)
        yield from connection_metrics()
        yield from redis_metrics()


# Only our collector: prometheus_client's default process and GC metrics would describe whichever
# gunicorn worker answered the scrape, not the service.
REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(ConnectorCollector())


def authorized(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404("metrics are not enabled")
    if not authorized(request, token):
        response = HttpResponse("A valid metrics token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
