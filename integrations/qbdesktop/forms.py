"""Setup form for a QuickBooks Desktop connection."""

from __future__ import annotations

import zoneinfo

from django import forms

# QuickBooks reads query dates in the QuickBooks PC's local time: we need the company's zone.
COMMON_ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Toronto",
    "America/Vancouver",
    "Europe/London",
    "Australia/Sydney",
    "UTC",
]


class ConnectForm(forms.Form):
    label = forms.CharField(max_length=100, initial="QuickBooks Desktop", help_text="A name for this company file.")
    time_zone = forms.ChoiceField(
        choices=[(z, z.replace("_", " ")) for z in COMMON_ZONES],
        initial="America/New_York",
        help_text="The time zone of the computer running QuickBooks.",
    )
    run_every_minutes = forms.IntegerField(
        min_value=1, max_value=1440, initial=15, help_text="How often the Web Connector runs (minutes)."
    )

    def clean_time_zone(self) -> str:
        value = self.cleaned_data["time_zone"]
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise forms.ValidationError("Unknown time zone.") from None
        return value
