"""The Add-a-flow wizard: From/To filtered by the flow type, defaults from what is connected, only
the options of the chosen mode shown, and no Start until the options can run (a journal needs its
accounts). Vendors are not called: the pick lists fall back to typed ids."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from connector.models import Connection, Flow

pytestmark = pytest.mark.django_db


@pytest.fixture
def connected(alice):
    def make(system, label):
        return Connection.objects.create(organization=alice.org, system=system, label=label)

    return {
        "ship": make("shipstation", "Warehouse"),
        "ship2": make("shipstation", "Second warehouse"),
        "woo": make("woocommerce", "Web shop"),
        "zoho": make("zoho", "Books"),
        "off": Connection.objects.create(
            organization=alice.org, system="zoho", label="Old books", status=Connection.Status.DISABLED
        ),
    }


def options_of(page: str, name: str) -> list[str]:
    select = re.search(rf'<select name="{name}".*?</select>', page, re.S).group(0)
    return re.findall(r'<option value="(\d*)"', select)


def selected(page: str, name: str) -> str:
    select = re.search(rf'<select name="{name}".*?</select>', page, re.S).group(0)
    found = re.search(r'<option value="(\d*)" selected', select)
    return found.group(1) if found else ""


def test_defaults_come_from_what_is_connected_and_sides_are_filtered(alice_client, connected):
    page = alice_client.get(reverse("flow_create")).content.decode()
    # ShipStation and Zoho are both connected: the first flow type joining connected systems.
    assert re.search(r'<option value="shipstation_zoho" selected>', page)
    assert options_of(page, "source") == ["", str(connected["ship2"].pk), str(connected["ship"].pk)]  # by name
    assert options_of(page, "target") == ["", str(connected["zoho"].pk)]  # not the disabled one
    assert selected(page, "source") == str(connected["ship2"].pk)
    assert selected(page, "target") == str(connected["zoho"].pk)
    assert "From (ShipStation)" in page and "To (Zoho Books)" in page


def test_choosing_another_flow_type_lists_only_its_systems(alice_client, connected):
    page = alice_client.get(reverse("flow_create") + "?preset=woocommerce_zoho").content.decode()
    assert options_of(page, "source") == ["", str(connected["woo"].pk)]
    assert selected(page, "source") == str(connected["woo"].pk)
    assert 'name="interval_seconds" value="900"' in page  # the type's own poll interval


def test_a_flow_type_whose_system_is_not_connected_says_so(alice_client, connected):
    page = alice_client.get(reverse("flow_create") + "?preset=exact_shipstation").content.decode()
    assert options_of(page, "source") == [""]
    assert "No Exact Online connection yet: connect it first." in page


def test_the_selects_redraw_the_wizard_without_sending_the_csrf_token(alice_client, connected):
    page = alice_client.get(reverse("flow_create")).content.decode()
    preset = re.search(r'<select name="preset"[^>]*>', page).group(0)
    assert 'hx-get="/flows/new/"' in preset and 'hx-select="#flow-wizard"' in preset
    assert 'hx-params="not csrfmiddlewaretoken"' in preset


def test_options_show_which_mode_they_belong_to(alice_client, connected):
    page = alice_client.get(reverse("flow_create")).content.decode()
    assert 'name="with_options"' in page
    # A labelled radio group for the mode, and the accounts tied to journal mode.
    assert re.search(r"<fieldset[^>]*>\s*<legend>Shipment costs as</legend>", page)
    expense = re.search(r'<input[^>]*name="expense_account_id"[^>]*>', page).group(0)
    assert 'data-show-when="shipment_mode=journal"' in expense
    pullback = re.search(r'<input[^>]*name="pullback_interval_hours"[^>]*>', page).group(0)
    assert 'data-show-when="document=sales_order"' in pullback
    assert 'name="rules"' not in page  # order rules are built on the flow's page


def test_journal_mode_without_accounts_is_refused_in_the_wizard(alice_client, connected):
    data = {
        "preset": "shipstation_zoho",
        "source": connected["ship"].pk,
        "target": connected["zoho"].pk,
        "interval_seconds": 300,
        "with_options": "1",
        "shipment_mode": "journal",
        "document": "invoice",
    }
    response = alice_client.post(reverse("flow_create"), data)
    assert response.status_code == 200
    assert "A journal entry needs both accounts." in response.content.decode()
    assert not Flow.objects.exists()

    data.update(expense_account_id="6001", offset_account_id="1001")
    response = alice_client.post(reverse("flow_create"), data)
    flow = Flow.objects.get()
    assert response.status_code == 302 and response.url == reverse("flow_detail", args=[flow.pk])
    assert flow.options["shipment_mode"] == "journal" and flow.options["expense_account_id"] == "6001"
    assert not flow.enabled


def test_comment_mode_needs_no_accounts(alice_client, connected):
    data = {
        "preset": "shipstation_zoho",
        "source": connected["ship"].pk,
        "target": connected["zoho"].pk,
        "interval_seconds": 300,
        "with_options": "1",
        "shipment_mode": "comment",
        "document": "invoice",
    }
    assert alice_client.post(reverse("flow_create"), data).status_code == 302
    assert Flow.objects.get().options["shipment_mode"] == "comment"


def test_a_connection_of_the_wrong_system_is_refused(alice_client, connected):
    data = {"preset": "shipstation_zoho", "source": connected["woo"].pk, "target": connected["zoho"].pk}
    response = alice_client.post(reverse("flow_create"), {**data, "interval_seconds": 300})
    assert response.status_code == 200 and not Flow.objects.exists()


def test_another_organisations_connection_is_not_offered(alice_client, connected, bob):
    bobs = Connection.objects.create(organization=bob.org, system="shipstation", label="Bob's warehouse")
    page = alice_client.get(reverse("flow_create")).content.decode()
    assert str(bobs.pk) not in options_of(page, "source") and "Bob&#x27;s warehouse" not in page


def test_a_journal_flow_without_accounts_cannot_start(alice_client, connected):
    alice_client.post(
        reverse("flow_create"),
        {
            "preset": "shipstation_zoho",
            "source": connected["ship"].pk,
            "target": connected["zoho"].pk,
            "interval_seconds": 300,
        },
    )  # created with the defaults: journal mode, no accounts yet
    flow = Flow.objects.get()
    response = alice_client.post(reverse("flow_toggle", args=[flow.pk]), follow=True)
    flow.refresh_from_db()
    assert not flow.enabled
    assert "Before starting, complete the options" in response.content.decode()
    assert "A journal entry needs both accounts." in response.content.decode()

    alice_client.post(
        reverse("flow_detail", args=[flow.pk]),
        {"shipment_mode": "journal", "document": "invoice", "expense_account_id": "6001", "offset_account_id": "1001"},
    )
    alice_client.post(reverse("flow_toggle", args=[flow.pk]))
    flow.refresh_from_db()
    assert flow.enabled
    alice_client.post(reverse("flow_toggle", args=[flow.pk]))  # pausing never asks
    flow.refresh_from_db()
    assert not flow.enabled


def test_the_backfill_date_is_a_date_input_the_browser_shows_in_the_users_locale(alice_client, connected):
    page = alice_client.get(reverse("flow_create")).content.decode()
    assert re.search(r'<input type="date" name="backfill_from"', page)


def test_changing_the_flow_type_replaces_sides_of_the_old_type(alice_client, connected):
    """The wizard redraws with the previous choices in the address: a To of the old type's system
    gives way to the new type's first connection."""
    woo_page = alice_client.get(
        reverse("flow_create") + f"?preset=woocommerce_zoho&source={connected['ship'].pk}&target={connected['zoho'].pk}"
    ).content.decode()
    assert selected(woo_page, "source") == str(connected["woo"].pk)
    assert selected(woo_page, "target") == str(connected["zoho"].pk)
    assert 'name="with_options"' in woo_page  # both sides known: the options are there


def test_the_default_flow_type_prefers_one_not_set_up_yet(alice_client, connected):
    Flow.objects.create(
        organization=connected["ship"].organization,
        preset="shipstation_zoho",
        source=connected["ship"],
        target=connected["zoho"],
    )
    page = alice_client.get(reverse("flow_create")).content.decode()
    assert re.search(r'<option value="woocommerce_zoho" selected>', page)  # the next one both sides allow


def test_a_presets_form_turns_typed_fields_into_pickers_of_the_written_to_systems_lists():
    """Core knows no vendor's fields: a preset's form names its pick lists and the base offers them."""
    from django import forms

    from connector.web.forms import BackfillOptionsForm

    class LedgerForm(BackfillOptionsForm):
        account = forms.CharField(label="Account", help_text="Where it goes.")
        note = forms.CharField(required=False)
        choice_lists = {"account": "ledger_account", "note": "nothing_offered"}

    lists = {"ledger_account": [("A1", "4600 Shipping")]}
    form = LedgerForm({"account": "A1"}, target_choices=lambda name: lists.get(name, []))
    picker = form.fields["account"]
    assert isinstance(picker, forms.ChoiceField) and picker.required
    assert (picker.label, picker.help_text, picker.choices) == (
        "Account",
        "Where it goes.",
        [("", "Choose…"), ("A1", "4600 Shipping")],
    )
    assert type(form.fields["note"]) is forms.CharField  # no list offered: stays typed
    assert form.is_valid(), form.errors
    assert not LedgerForm({"account": "Z9"}, target_choices=lambda name: lists.get(name, [])).is_valid()
