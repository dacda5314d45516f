"""Web Connector users: creation, password (shown once, stored hashed) and lockout."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.utils import timezone

from connector.models import Connection
from integrations.qbdesktop.models import QBWCUser

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
# A hash to check against when the user name is unknown, so both paths cost the same time.
_DUMMY_HASH_INPUT = "qbwc-unknown-user"


def new_password() -> str:
    return secrets.token_urlsafe(18)


def new_username(connection: Connection) -> str:
    return f"qbwc-{connection.pk}-{secrets.token_hex(3)}"


def create_user(connection: Connection) -> tuple[QBWCUser, str]:
    """Create the connection's Web Connector user. Returns (user, plaintext password to show once)."""
    password = new_password()
    user = QBWCUser.objects.create(
        organization=connection.organization,
        connection=connection,
        username=new_username(connection),
        password_hash=make_password(password),
    )
    return user, password


def regenerate_password(user: QBWCUser) -> str:
    password = new_password()
    user.password_hash = make_password(password)
    user.password_changed_at = timezone.now()
    user.failed_attempts = 0
    user.locked_until = None
    user.save(update_fields=["password_hash", "password_changed_at", "failed_attempts", "locked_until"])
    return password


@dataclass(frozen=True)
class LoginResult:
    user: QBWCUser | None
    reason: str = ""  # "", "unknown", "bad_password", "locked", "disabled"


def check_login(username: str, password: str) -> LoginResult:
    """Check a Web Connector login in constant time; count failures and lock out after MAX_FAILURES."""
    username = (username or "").strip()
    password = password or ""
    with transaction.atomic():
        user = (
            QBWCUser.objects.select_for_update().select_related("connection").filter(username=username).first()
            if username
            else None
        )
        if user is None:
            make_password(_DUMMY_HASH_INPUT)  # equalise timing with the known-user path
            return LoginResult(None, "unknown")
        now = timezone.now()
        if user.locked_until and user.locked_until > now:
            make_password(_DUMMY_HASH_INPUT)
            return LoginResult(None, "locked")
        if not check_password(password, user.password_hash):
            user.failed_attempts += 1
            fields = ["failed_attempts"]
            if user.failed_attempts >= MAX_FAILURES:
                user.locked_until = now + LOCKOUT
                user.failed_attempts = 0
                user.last_error = (
                    f"Web Connector login locked for {int(LOCKOUT.total_seconds() // 60)} minutes after "
                    f"{MAX_FAILURES} wrong passwords. Check the password in the Web Connector."
                )
                user.last_error_at = now
                fields += ["locked_until", "last_error", "last_error_at"]
            user.save(update_fields=fields)
            return LoginResult(None, "bad_password")
        if user.connection.status == Connection.Status.DISABLED:
            return LoginResult(None, "disabled")
        user.failed_attempts = 0
        user.locked_until = None
        user.last_login_at = now
        user.save(update_fields=["failed_attempts", "locked_until", "last_login_at"])
        return LoginResult(user)
