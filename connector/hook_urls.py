"""The URLconf of webhook requests (connector.wsgi): the integrations' `hooks/` patterns only, flat.

The webhooks sit at the end of the root URLconf (after the admin, allauth, the pages and the API),
so resolving a delivery there tries every other pattern first; and inside each integration's
include, its connect and settings pages come before its webhook. Under a burst that walk was a
noticeable share of a web worker's time per delivery (about 30 patterns tried, five resolvers
deep). Here only the webhook patterns are listed, one level deep: same patterns, views and names.
"""

from django.urls import URLPattern, URLResolver

from connector.urls import _integration_urls

HOOKS_ROUTE = "hooks/"


def hook_patterns(patterns: list) -> list[URLPattern]:
    """Every pattern under `hooks/` among the integrations' URLs, flattened out of their includes
    (the sandboxes' URLs, mounted under /sandbox/, are not webhooks we receive)."""
    found = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            if str(entry.pattern) == "":
                found.extend(hook_patterns(entry.url_patterns))
        elif str(entry.pattern).startswith(HOOKS_ROUTE):
            found.append(entry)
    return found


urlpatterns = hook_patterns(_integration_urls())
