import pytest


@pytest.mark.parametrize("name", ["dashboard", "connections", "audit_log", "team"])
def test_pages_render_for_a_member(alice_client, name):
    from django.urls import reverse

    response = alice_client.get(reverse(name))
    assert response.status_code == 200
    assert b"Alice Ltd" in response.content


def test_connections_page_says_what_each_integration_cannot_do(alice_client):
    from django.urls import reverse

    page = alice_client.get(reverse("connections")).content.decode()
    assert "no way for us to create or edit a customer" in page  # ShipStation's customers
