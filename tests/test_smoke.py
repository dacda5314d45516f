import pytest


@pytest.mark.parametrize("name", ["dashboard", "connections", "audit_log", "team"])
def test_pages_render_for_a_member(alice_client, name):
    from django.urls import reverse

    response = alice_client.get(reverse(name))
    assert response.status_code == 200
    assert b"Alice Ltd" in response.content
