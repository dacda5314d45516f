"""The bare anchor of bench/webhook_ingest.py: the least a Django view must do per webhook delivery.

One view, no middleware, no ORM model: verify a WooCommerce-style HMAC-SHA256 signature (constant
time), INSERT the body into its own table, LPUSH the id onto a Redis list, answer 200. It runs under
gunicorn with the product's worker shape, against the same DATABASE_URL (PostgreSQL or SQLite) and
REDIS_URL as the product, so the bench can report the product's rate as a ratio of this one.
    DATABASE_URL=... REDIS_URL=... gunicorn app:application --workers 2 --threads 4 (from this folder)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from urllib.parse import urlsplit

import django
import redis
from django.conf import settings

SECRET = os.environ.get("BARE_WEBHOOK_SECRET", "bench-webhook-secret").encode()
TABLE = "bench_bare_delivery"  # created by bench/webhook_ingest.py
QUEUE = "bench:bare:inbox"


def _database(url: str) -> dict:
    parts = urlsplit(url)
    if parts.scheme.startswith("sqlite"):
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": parts.path, "OPTIONS": {"timeout": 20}}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": parts.username or "",
        "PASSWORD": parts.password or "",
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": 600,
    }


settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    SECRET_KEY="bare-" + "x" * 50,
    DATABASES={"default": _database(os.environ["DATABASE_URL"])},
)
django.setup()

from django.db import connection  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402

_redis_url = os.environ["REDIS_URL"].replace("redis+socket://", "unix://")
r = redis.Redis.from_url(_redis_url)


@csrf_exempt
def hook(request: HttpRequest, token: str) -> HttpResponse:
    body = request.body
    want = base64.b64encode(hmac.new(SECRET, body, hashlib.sha256).digest()).decode()
    if not hmac.compare_digest(want, request.headers.get("X-WC-Webhook-Signature", "")):
        return HttpResponse(status=401)
    with connection.cursor() as c:
        c.execute(
            f"INSERT INTO {TABLE} (token, delivery_id, body) VALUES (%s, %s, %s) RETURNING id",
            [token, request.headers.get("X-WC-Webhook-Delivery-ID", ""), body.decode()],
        )
        (pk,) = c.fetchone()
    r.lpush(QUEUE, pk)
    return HttpResponse(b'{"ok":true}', content_type="application/json")


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok")


urlpatterns = [path("healthz", healthz), path("hooks/woocommerce/<str:token>/", hook)]

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
