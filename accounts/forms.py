from __future__ import annotations

from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms

from accounts.models import Invitation, Role


class SignupForm(AllauthSignupForm):
    """allauth's signup form plus the organisation name; AccountAdapter.save_user creates it."""

    organization = forms.CharField(
        label="Organisation name",
        max_length=200,
        required=False,
        help_text="Your company or shop. You can invite teammates later.",
    )


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
