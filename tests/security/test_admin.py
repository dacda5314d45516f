"""Django admin: it shows every tenant's data, so its login is the site's throttled login, it can be
moved (ADMIN_URL) or switched off (ADMIN_ENABLED).

Before: /admin/login/ was Django's own form with no attempt limit at all.
"""

from __future__ import annotations

import importlib

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.urls import clear_url_caches, reverse

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db):
    user = get_user_model().objects.create_user(
        username="root", email="root@example.com", password=PASSWORD, is_staff=True, is_superuser=True
    )
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def _login(client, email, password):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def test_admin_login_is_the_sites_login(client, staff):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
    # Django's own admin login form no longer takes passwords.
    response = client.post("/admin/login/", {"username": "root", "password": PASSWORD})
    assert response.status_code == 302 and "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


def test_guessing_the_admin_password_locks_the_account_out(client, staff):
    for _ in range(5):
        assert b"not correct" in _login(client, "root@example.com", "wrong guess").content
    # The sixth try is refused even with the right password.
    response = _login(client, "root@example.com", PASSWORD)
    assert b"Too many failed login attempts" in response.content
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


def test_staff_reach_the_admin_and_others_do_not(client, staff, alice):
    assert _login(client, "root@example.com", PASSWORD).status_code == 302
    assert client.get("/admin/").status_code == 200
    client.logout()
    client.force_login(alice)
    response = client.get("/admin/", follow=True)
    assert response.status_code == 403 and b"Alice Ltd" not in response.content


@pytest.fixture
def reload_urls():
    """Rebuild the URL map under the current settings, and restore it afterwards."""
    import connector.urls

    def reload():
        importlib.reload(connector.urls)
        clear_url_caches()

    yield reload
    reload()


def test_admin_can_be_moved(client, staff, reload_urls):
    with override_settings(ADMIN_URL="ops-7f3a/"):
        reload_urls()
        assert client.get("/admin/").status_code == 404
        assert client.get("/ops-7f3a/").status_code == 302


def test_admin_can_be_switched_off(client, staff, reload_urls):
    with override_settings(ADMIN_ENABLED=False):
        reload_urls()
        client.force_login(staff)
        assert client.get("/admin/").status_code == 404
