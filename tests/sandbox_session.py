"""A `requests` session signed in as a user, for sandbox pages and `_control` endpoints served by the
live server (they need a login and act on the user's organisation's sandbox accounts only)."""

from __future__ import annotations

import secrets

import requests
from django.conf import settings
from django.test import Client


def signed_in(user) -> requests.Session:
    client = Client()
    client.force_login(user)
    session = requests.Session()
    session.trust_env = False
    session.cookies.set(settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value)
    token = secrets.token_hex(16)  # an unmasked CSRF secret: the cookie and the header must agree
    session.cookies.set(settings.CSRF_COOKIE_NAME, token)
    session.headers["X-CSRFToken"] = token
    return session


def member_of(organization) -> requests.Session:
    """`signed_in` as the first member of `organization` (the owner of a sandbox account)."""
    from accounts.models import Membership

    return signed_in(Membership.objects.filter(organization=organization).order_by("id").first().user)
