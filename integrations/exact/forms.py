"""Options of the Exact Online ↔ ShipStation flow: the ledger fields plus what to write back.

Extends the core LedgerOptionsForm with the two write-back choices of issue 9 (EXACT.md §6.10):
the order text field that receives tracking numbers (sales orders have no tracking field) and
whether to create goods deliveries, which move stock in Exact and so are off unless asked for.
"""

from __future__ import annotations

from django import forms

from connector.web.forms import LedgerOptionsForm
from integrations.exact.mapping import DEFAULT_TRACKING_FIELD, NO_TRACKING_FIELD, TRACKING_FIELDS


class ExactShipStationOptionsForm(LedgerOptionsForm):
    exact_tracking_field = forms.ChoiceField(
        label="Write tracking numbers to",
        choices=[*((f, f"The sales order's {f}") for f in TRACKING_FIELDS), (NO_TRACKING_FIELD, "Nowhere")],
        initial=DEFAULT_TRACKING_FIELD,
        required=False,
        help_text="Exact sales orders have no tracking field; the note is appended to this text field.",
    )
    exact_create_goods_delivery = forms.BooleanField(
        label="Create goods deliveries in Exact",
        required=False,
        help_text="Records the shipped quantities as a goods delivery. This moves stock in Exact.",
    )
