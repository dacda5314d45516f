from __future__ import annotations

from allauth.account.forms import SignupForm as AllauthSignupForm
from allauth.core import context as allauth_context
from django import forms

from accounts import invitations
from accounts.models import Invitation, Membership, Organization, Role


class SignupForm(AllauthSignupForm):
    """allauth's signup form plus the organisation name; AccountAdapter.save_user creates it.

    Signing up from an invitation link asks for no organisation: the newcomer joins the inviting one,
    and the invited address is filled in.
    """

    organization = forms.CharField(
        label="Organisation name",
        max_length=200,
        help_text="Your company or shop. You can rename it and invite teammates later.",
        error_messages={"required": "Name your organisation, e.g. your company or shop."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = allauth_context.request
        self.invitation = invitations.from_session(request) if request is not None else None
        if self.invitation is not None:
            del self.fields["organization"]
            self.fields["email"].initial = self.invitation.email
            self.fields["email"].help_text = f"Invited to {self.invitation.organization.name}."


class InvitationForm(forms.Form):
    email = forms.EmailField(label="Email address")
    role = forms.ChoiceField(choices=[(Role.MEMBER, "Member"), (Role.ADMIN, "Admin")], initial=Role.MEMBER)

    def __init__(self, *args, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.organization = organization

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if self.organization is not None:
            if self.organization.memberships.filter(user__email__iexact=email).exists():
                raise forms.ValidationError("This person is already a member.")
            if Invitation.objects.filter(
                organization=self.organization, email__iexact=email, accepted_at=None
            ).exists():
                raise forms.ValidationError("An invitation to this address is already pending.")
        return email


class OrganizationForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = ["name"]
        labels = {"name": "Organisation name"}

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("The organisation needs a name.")
        return name


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


TOKEN_LIFETIMES = [(7, "7 days"), (30, "30 days"), (90, "90 days"), (365, "1 year")]


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “Reporting script”.")
    days = forms.TypedChoiceField(label="Expires after", choices=TOKEN_LIFETIMES, coerce=int, initial=90)


def _time_zone_choices() -> list[tuple[str, str]]:
    import zoneinfo

    return [("", "UTC (default)")] + [(name, name) for name in sorted(zoneinfo.available_timezones())]


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(label="Time zone", required=False, choices=_time_zone_choices)


class NotificationForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["notify_daily_digest", "notify_needs_review"]
        labels = {
            "notify_daily_digest": "A daily digest of failed records, at 07:00 in your time zone",
            "notify_needs_review": "An email as soon as an order needs you or your books do not match",
        }
        # The same mails as accounts.notifications sends under this choice: needs-review alerts and the
        # reconciliation alerts that open when a scheduled check finds the books do not match.
        help_texts = {
            "notify_needs_review": "For example an order or shipment we could not book until you fix it, or a "
            "scheduled check that finds orders missing from your accounting books or booked with other amounts.",
        }
