"""`{% sandbox_try_button "<system>" %}`: the Connect page's "Try with sandbox accounts" button.

Renders nothing unless that system's sandbox app is installed (SANDBOX_ENABLED) and registered
(connector.registry.SandboxInfo), so product templates never name a sandbox URL.
"""

from __future__ import annotations

from django import template
from django.urls import reverse

from connector.registry import sandbox_of

register = template.Library()


@register.inclusion_tag("sandbox/_try_button.html", takes_context=True)
def sandbox_try_button(context, system_key: str) -> dict:
    info = sandbox_of(system_key)
    return {
        "csrf_token": context.get("csrf_token"),
        "try_url": reverse(info.try_url_name) if info and info.try_url_name else "",
        "page_url": reverse(info.page_url_name) if info and info.page_url_name else "",
    }
