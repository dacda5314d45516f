"""Flow setup forms: which preset between which connections, and each preset's options."""

from __future__ import annotations

from django import forms
from django.utils.module_loading import import_string

from connector.models import Connection, Flow
from connector.registry import FlowPreset, RegistryError, get_preset, get_system, presets

# The wizard re-draws itself when the flow type or a side changes (htmx GET of the same page with the
# form's values; the CSRF token stays out of the address). Without JavaScript, "Show the choices"
# does the same.
WIZARD_REFRESH = {
    "hx-get": "",  # set to the page's own URL by the view
    "hx-trigger": "change",
    "hx-include": "closest form",
    "hx-params": "not csrfmiddlewaretoken",
    "hx-target": "#flow-wizard",
    "hx-select": "#flow-wizard",
    "hx-swap": "outerHTML",
    "hx-push-url": "true",
}


def _system_name(key: str) -> str:
    try:
        return get_system(key).name
    except RegistryError:
        return key


class FlowCreateForm(forms.Form):
    """Step one of the wizard: which flow, between which of the organisation's connections.

    From/To list only connections of the systems the chosen flow type joins; with nothing chosen
    yet, the flow type defaults to the first one whose two systems are both connected, and each side
    to its first connection."""

    preset = forms.ChoiceField(label="Flow")
    source = forms.ModelChoiceField(queryset=Connection.objects.none(), label="From")
    target = forms.ModelChoiceField(queryset=Connection.objects.none(), label="To")
    interval_seconds = forms.IntegerField(
        label="Check for changes every (seconds)",
        min_value=60,
        max_value=86400,
        initial=300,
        help_text="Changes your systems announce (webhooks) arrive at once; this regular check catches the rest.",
    )

    def __init__(self, *args, organization=None, refresh_url: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        active = Connection.objects.for_org(organization).exclude(status=Connection.Status.DISABLED)
        connected = set(active.values_list("system", flat=True))
        self.connected_systems = connected  # the wizard's pairing list reads it too
        all_presets = presets()
        self.fields["preset"].choices = [("", "Choose a flow…")] + [(p.key, p.name) for p in all_presets]
        key = (self.data.get("preset") if self.is_bound else None) or self.initial.get("preset")
        if not key and not self.is_bound:
            # The first type whose two systems are connected, preferring one from the connection the
            # merchant came from (a connection page's "send its orders" link), then one not set up yet.
            existing = set(Flow.objects.for_org(organization).values_list("preset", flat=True))
            came_from = (
                active.filter(pk=self.initial["source"]).first() if self._is_pk(self.initial.get("source")) else None
            )
            ready = [p for p in all_presets if {p.source_system, p.target_system} <= connected]
            ready.sort(key=lambda p: (came_from is not None and p.source_system != came_from.system, p.key in existing))
            key = ready[0].key if ready else ""
            self.initial["preset"] = key
        try:
            self.preset: FlowPreset | None = get_preset(key) if key else None
        except RegistryError:
            self.preset = None
        if self.preset is None:
            self.fields["source"].queryset = active
            self.fields["target"].queryset = active
        else:
            for side, system in (("source", self.preset.source_system), ("target", self.preset.target_system)):
                field = self.fields[side]
                field.queryset = active.filter(system=system).order_by("label", "pk")
                field.label = f"{field.label} ({_system_name(system)})"
                field.empty_label = f"Choose a {_system_name(system)} connection…"
                if not field.queryset.exists():
                    field.help_text = f"No {_system_name(system)} connection yet: connect it first."
                elif not self.is_bound and not self._offers(field, self.initial.get(side)):
                    # Nothing chosen yet, or a connection of another flow type's system: the first one.
                    self.initial[side] = field.queryset.first().pk
        if refresh_url:
            for name in ("preset", "source", "target"):
                self.fields[name].widget.attrs.update({**WIZARD_REFRESH, "hx-get": refresh_url})

    @staticmethod
    def _is_pk(value) -> bool:
        return str(value or "").isdigit()

    @classmethod
    def _offers(cls, field, value) -> bool:
        return cls._is_pk(value) and field.queryset.filter(pk=int(value)).exists()

    def clean(self):
        data = super().clean()
        preset_key, source, target = data.get("preset"), data.get("source"), data.get("target")
        if preset_key and source and target:
            preset = get_preset(preset_key)
            if source.system != preset.source_system:
                self.add_error("source", f"Choose a {preset.source_system} connection for this flow.")
            if target.system != preset.target_system:
                self.add_error("target", f"Choose a {preset.target_system} connection for this flow.")
        return data


class BackfillOptionsForm(forms.Form):
    backfill_from = forms.DateField(
        label="Backfill from",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The first run picks up everything modified since this date (default: one day before the flow was created).",
    )

    # Fields that apply only in one mode: {"field": ("controlling field", "value")}. The page hides
    # them in other modes (static/js/app.js, data-show-when); each class lists its own, merged over
    # the class hierarchy by `conditions()`.
    shown_when: dict[str, tuple[str, str]] = {}
    # Typed fields that become pickers when the written-to system offers the list: {"field": "list
    # name"}, the name passed to `target_choices` (its adapter's `choices`). Without a list (the
    # system unreachable, or none offered) the field stays typed.
    choice_lists: dict[str, str] = {}

    def __init__(self, *args, target_choices=None, flow=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.target_choices = target_choices or (lambda name: [])
        # The flow being edited, or the wizard's unsaved draft (no pk: nothing to link to yet) with its
        # chosen connections; None on forms built without one.
        self.flow = flow
        self._offer_choice_lists()

    def _offer_choice_lists(self) -> None:
        for name, list_name in self.choice_lists.items():
            values = self.target_choices(list_name)
            typed = self.fields.get(name)
            if values and typed is not None:
                self.fields[name] = forms.ChoiceField(
                    label=typed.label,
                    help_text=typed.help_text,
                    required=typed.required,
                    choices=[("", "Choose…"), *values],
                )

    @classmethod
    def conditions(cls) -> dict[str, tuple[str, str]]:
        merged: dict[str, tuple[str, str]] = {}
        for klass in reversed(cls.__mro__):
            merged.update(vars(klass).get("shown_when", {}))
        return merged

    def mark_conditional_fields(self) -> None:
        """Tag each mode-dependent field's widget so the page can hide it while it does not apply."""
        for name, (controller, value) in self.conditions().items():
            if name in self.fields and controller in self.fields:
                self.fields[name].widget.attrs["data-show-when"] = f"{controller}={value}"

    def problems(self) -> list[str]:
        """What stops these options from being used, in words for the flow page ("Shipping expense
        account: A journal entry needs both accounts.")."""
        if self.is_valid():
            return []
        found = []
        for name, errors in self.errors.items():
            label = self.fields[name].label if name in self.fields else ""
            found += [f"{label}: {e}" if label else e for e in errors]
        return found

    def options(self) -> dict:
        data = dict(self.cleaned_data)
        if data.get("backfill_from"):
            data["backfill_from"] = data["backfill_from"].isoformat()
        return {k: v for k, v in data.items() if v not in (None, "")}


class ShipmentCostOptionsForm(BackfillOptionsForm):
    shown_when = {
        "expense_account_id": ("shipment_mode", "journal"),
        "offset_account_id": ("shipment_mode", "journal"),
    }
    shipment_mode = forms.ChoiceField(
        label="Shipment costs as",
        choices=[("journal", "A journal entry"), ("comment", "A comment on the order's invoice")],
        widget=forms.RadioSelect,
        initial="journal",
    )
    expense_account_id = forms.CharField(label="Shipping expense account", required=False)
    offset_account_id = forms.CharField(label="Offset account (paid from)", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        accounts = self.target_choices("account")
        if accounts:
            for name in ("expense_account_id", "offset_account_id"):
                self.fields[name] = forms.ChoiceField(
                    label=self.fields[name].label, choices=[("", "Choose an account…"), *accounts], required=False
                )

    def clean(self):
        data = super().clean()
        if data.get("shipment_mode") == "journal":
            for name in ("expense_account_id", "offset_account_id"):
                if not data.get(name):
                    self.add_error(name, "A journal entry needs both accounts.")
            if data.get("expense_account_id") and data.get("expense_account_id") == data.get("offset_account_id"):
                self.add_error("offset_account_id", "Choose two different accounts.")
        return data


def options_form_for(preset: FlowPreset, *args, **kwargs) -> forms.Form:
    cls = import_string(preset.options_form) if preset.options_form else BackfillOptionsForm
    form = cls(*args, **kwargs)
    if hasattr(form, "mark_conditional_fields"):
        form.mark_conditional_fields()
    return form


def wizard_options_form(preset: FlowPreset, data, *, initial: dict, target_choices, flow: Flow) -> forms.Form:
    """The preset's options inside the wizard. `flow` is the unsaved draft (no pk) with the chosen
    source and target connections, the same context the flow's own page gives its form, so an option
    that depends on a side (whether the source can take stock levels) is offered alike on both pages.
    Structured settings (JSON: order rules, cost centres per project) are left to the flow's own page,
    which has the rule builder and pickers."""
    form = options_form_for(preset, data, initial=initial, target_choices=target_choices, flow=flow)
    for name in [n for n, f in form.fields.items() if isinstance(f, forms.JSONField)]:
        del form.fields[name]
    return form


def options_problems(flow, target_choices) -> list[str]:
    """Why the flow's saved options cannot run yet (a journal without its accounts), or []."""
    try:
        preset = get_preset(flow.preset)
    except RegistryError:
        return []
    options = flow.options or {}
    form = options_form_for(preset, options, initial=options, target_choices=target_choices, flow=flow)
    return form.problems() if hasattr(form, "problems") else ([] if form.is_valid() else ["Check the options."])
