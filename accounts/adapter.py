"""allauth adapter: a new account gets its own Organization and an owner Membership."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.db import transaction

from accounts.models import Membership, Organization, Role
from connector.clientip import client_ip
from connector.tenancy import SESSION_KEY


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request) -> str:
        # allauth's login/signup/reset rate limits count the same client as every other throttle.
        return client_ip(request)

    def save_user(self, request, user, form, commit=True):
        with transaction.atomic():
            user = super().save_user(request, user, form, commit=commit)
            if commit:
                name = (form.cleaned_data.get("organization") or "").strip() or f"{user.email}'s organisation"
                organization = Organization.objects.create(name=name[:200])
                Membership.objects.create(user=user, organization=organization, role=Role.OWNER)
                request.session[SESSION_KEY] = organization.pk
        return user
