"""Test settings: the real settings module with safe test values filled in from the environment.

With DATABASE_URL and REDIS_URL set (CI), tests run on PostgreSQL and Redis; otherwise SQLite and
the embedded Redis. Keys below are fixed test keys, never used outside the suite.
"""

import os

os.environ["ENV_FILE"] = ""  # hermetic: a developer's .env never leaks into the tests
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdefghijklmnop")
os.environ.setdefault(
    "FIELD_ENCRYPTION_KEYS",
    "Nq0cI5mSsbXtD7vE0VfG4A6Jx0S5ZbzV3Qm8Hh2ZbLs=",
)
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SANDBOX_ENABLED", "true")
os.environ.setdefault("SANDBOX_ALLOWED_WITHOUT_DEBUG", "true")
os.environ.setdefault("STATIC_MANIFEST", "false")
os.environ.setdefault("ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")

from connector.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast tests; production uses PBKDF2
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
LOGGING["root"]["level"] = "WARNING"  # noqa: F405

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not shared-cache memory, so threads and the live server see real SQLite locking.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / f"test-{os.getpid()}.sqlite3")}  # noqa: F405

# Live-server request threads must close their connections at the end of each request, or a
# PostgreSQL connection is garbage-collected open (ResourceWarning) and the test database cannot
# be dropped.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
