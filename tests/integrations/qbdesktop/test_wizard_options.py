"""The QuickBooks Desktop options in the Add-a-flow wizard are the flow page's: the wizard hands the form
its draft flow (the chosen From and To connections), so the inventory push is offered whenever the
chosen source can take stock levels, and the inventory location is asked only of a source that keeps
stock in locations. No vendor is called: the WooCommerce source's availability is read from its key."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from connector.models import Connection, Flow
from connector.registry import get_preset
from connector.web.forms import options_form_for
from integrations.qbdesktop.inventory_push import LOCATION_OPTION, OPTION

pytestmark = pytest.mark.django_db


def woocommerce(alice, label="Web shop", *, keyed=True) -> Connection:
    return Connection.objects.create(
        organization=alice.org,
        system="woocommerce",
        label=label,
        credentials={"consumer_key": "ck_1", "consumer_secret": "cs_1"} if keyed else {},
        settings={"store_url": "https://shop.example"} if keyed else {},
    )


def checkbox(page: str, name: str) -> str:
    return re.search(rf'<input type="checkbox" name="{name}"[^>]*>', page).group(0)


def wizard(client, preset: str, source: Connection, target: Connection) -> str:
    url = reverse("flow_create") + f"?preset={preset}&source={source.pk}&target={target.pk}"
    return client.get(url).content.decode()


def test_the_wizard_offers_the_stock_push_for_a_store_that_can_take_stock(alice_client, alice, qbd):
    page = wizard(alice_client, "woocommerce_qbdesktop", woocommerce(alice), qbd[0])
    push = checkbox(page, OPTION)
    assert "disabled" not in push
    assert "Unavailable" not in page
    assert f'name="{LOCATION_OPTION}"' not in page  # a store has no inventory locations


def test_a_flow_created_through_the_wizard_with_the_stock_push_on_stores_it(alice_client, alice, qbd):
    shop = woocommerce(alice)
    data = {
        "preset": "woocommerce_qbdesktop",
        "source": shop.pk,
        "target": qbd[0].pk,
        "interval_seconds": 900,
        "with_options": "1",
        "posting": "invoice",
        "post_when": "paid",
        OPTION: "on",
    }
    response = alice_client.post(reverse("flow_create"), data)
    flow = Flow.objects.get()
    assert response.status_code == 302 and response.url == reverse("flow_detail", args=[flow.pk])
    assert flow.source == shop and flow.target == qbd[0]
    assert flow.options[OPTION] is True
    assert LOCATION_OPTION not in flow.options

    # The flow's own page shows it on, and still offers it.
    page = alice_client.get(reverse("flow_detail", args=[flow.pk])).content.decode()
    assert "checked" in checkbox(page, OPTION) and "disabled" not in checkbox(page, OPTION)


def test_the_wizard_says_why_a_store_without_its_key_cannot_take_stock(alice_client, alice, qbd):
    """The same words as on the flow page, about the chosen store, not about other flows' sources."""
    keyed = woocommerce(alice, "Keyed shop")  # another flow's source that could take stock
    Flow.objects.create(organization=alice.org, preset="woocommerce_qbdesktop", source=keyed, target=qbd[0])
    unkeyed = woocommerce(alice, "New shop", keyed=False)
    page = wizard(alice_client, "woocommerce_qbdesktop", unkeyed, qbd[0])
    assert "disabled" in checkbox(page, OPTION)
    assert "WooCommerce connection New shop has no API key to set stock with." in page

    data = {
        "preset": "woocommerce_qbdesktop",
        "source": unkeyed.pk,
        "target": qbd[0].pk,
        "interval_seconds": 900,
        "with_options": "1",
        "posting": "invoice",
        "post_when": "paid",
        OPTION: "on",  # a disabled box's value is not taken
    }
    assert alice_client.post(reverse("flow_create"), data).status_code == 302
    assert not Flow.objects.get(source=unkeyed).options.get(OPTION)


def test_the_inventory_location_is_asked_only_of_sources_with_locations(alice_client, alice, qbd):
    store = Connection.objects.create(
        organization=alice.org, system="shipstation", label="Warehouse", credentials={"v2_api_key": "v2-key"}
    )
    page = wizard(alice_client, "qbdesktop_shipstation", store, qbd[0])
    assert f'name="{LOCATION_OPTION}"' in page
    assert "disabled" not in checkbox(page, OPTION)  # its V2 key takes stock levels

    data = {
        "preset": "qbdesktop_shipstation",
        "source": store.pk,
        "target": qbd[0].pk,
        "interval_seconds": 300,
        "with_options": "1",
        "posting": "invoice",
        OPTION: "on",
        LOCATION_OPTION: "se-42",
    }
    assert alice_client.post(reverse("flow_create"), data).status_code == 302
    shipped = Flow.objects.get(source=store)
    assert shipped.options[OPTION] is True and shipped.options[LOCATION_OPTION] == "se-42"
    page = alice_client.get(reverse("flow_detail", args=[shipped.pk])).content.decode()
    assert re.search(rf'name="{LOCATION_OPTION}"[^>]*value="se-42"', page)

    shop_flow = Flow.objects.create(
        organization=alice.org, preset="woocommerce_qbdesktop", source=woocommerce(alice), target=qbd[0]
    )
    page = alice_client.get(reverse("flow_detail", args=[shop_flow.pk])).content.decode()
    assert f'name="{LOCATION_OPTION}"' not in page and "Inventory location" not in page


def test_a_form_without_a_flow_keeps_the_location(alice, qbd):
    """Built without a flow (no source known) the option stays, so a saved location is not dropped."""
    form = options_form_for(get_preset("woocommerce_qbdesktop"), None, initial={})
    assert LOCATION_OPTION in form.fields
