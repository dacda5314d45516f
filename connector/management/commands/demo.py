"""Create (or refresh) the demo organisation and user, then give it its sandbox accounts, connected.

Sandboxes are apps of their own, installed only when SANDBOX_ENABLED; each registers how it
provisions an organisation's accounts (connector.registry.SandboxInfo), so with sandboxes off
this command makes only the login."""

from __future__ import annotations

import json
import os

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import Membership, Organization, Role
from connector.models import Connection, Flow
from connector.registry import presets, sandboxes

DEMO_EMAIL = "demo@example.com"
DEMO_ORG = "Demo Shop Ltd"


class Command(BaseCommand):
    help = "Create the demo organisation and login (idempotent); with --json print them as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the demo login and sandbox facts as JSON")

    def handle(self, *args, **options):
        password = os.environ.get("DEMO_PASSWORD", "connector-demo")
        with transaction.atomic():
            user_model = get_user_model()
            user = user_model.objects.filter(email__iexact=DEMO_EMAIL).first()
            if user is None:
                user = user_model.objects.create_user(username="demo", email=DEMO_EMAIL, password=password)
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
            EmailAddress.objects.update_or_create(
                user=user, email=DEMO_EMAIL, defaults={"verified": True, "primary": True}
            )
            membership = Membership.objects.filter(user=user, organization__name=DEMO_ORG).first()
            if membership is None:
                organization = Organization.objects.create(name=DEMO_ORG)
                Membership.objects.create(user=user, organization=organization, role=Role.OWNER)
            else:
                organization = membership.organization
        facts: dict = {
            "url": settings.PUBLIC_BASE_URL + "/",
            "email": DEMO_EMAIL,
            "password": password,
            "organization": organization.name,
            "sandboxes": {},
        }
        # The same provisioning as the Connect pages' "Try with sandbox accounts" button: it makes
        # what is missing and answers the credentials every time, so a second run prints them too.
        for sandbox in sandboxes():
            facts["sandboxes"][sandbox.system] = sandbox.provision(organization, user)
        if facts["sandboxes"] and not Flow.objects.for_org(organization).exists():
            facts["flows"] = create_demo_flows(organization, facts["sandboxes"])
        if options["json"]:
            self.stdout.write(json.dumps(facts, indent=2, default=str))
            return
        self.stdout.write(self.style.SUCCESS(f"Demo ready at {facts['url']}"))
        self.stdout.write(f"  log in as {DEMO_EMAIL} / {password}  ({organization.name})")
        for key, value in facts["sandboxes"].items():
            self.stdout.write(f"  sandbox {key}: {value}")
        for flow in facts.get("flows", []):
            self.stdout.write(f"  flow: {flow}")


def create_demo_flows(organization, sandboxes: dict) -> list[str]:
    """One flow per preset whose two systems are connected in the demo, with the options its preset
    takes from the sandboxes; a preset marked `demo_starts` starts right away, so records appear on
    the dashboard within a minute."""
    made = []
    connections = Connection.objects.for_org(organization)
    for preset in presets():
        source = connections.filter(system=preset.source_system).first()
        target = connections.filter(system=preset.target_system).first()
        if source is None or target is None:
            continue
        flow = Flow.objects.create(
            organization=organization,
            preset=preset.key,
            name=preset.name,
            source=source,
            target=target,
            options={**preset.default_options, **(preset.demo_options(sandboxes) if preset.demo_options else {})},
            enabled=preset.demo_starts,
            next_run_at=timezone.now(),
            interval_seconds=120,
        )
        made.append(f"{flow.name} ({'running' if flow.enabled else 'paused'})")
    return made
