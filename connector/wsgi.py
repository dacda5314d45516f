"""WSGI entry point. Webhook deliveries (/hooks/) skip the middleware stack; everything else gets it.

A webhook POST needs none of what the middleware does (sessions, CSRF, auth, messages, htmx, the
organisation switcher, static files): it is authenticated by its URL token and the vendor's
signature. Skipping the stack removes a fixed cost from the one path that takes bursts (bench/webhook_ingest.py
budgets it against a bare view), and keeps session/CSRF machinery away from unauthenticated vendor traffic.
The one middleware a webhook keeps is the request id: it follows the delivery into its processing. The
same handler resolves webhook paths among the integrations' URLs only (connector.hook_urls).
"""

import os

from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from connector.logs import RequestIdMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connector.settings")

HOOKS_PREFIX = "/hooks/"
HOOKS_URLCONF = "connector.hook_urls"


class WebhookHandler(WSGIHandler):
    """Django's own WSGI handler with only the request id middleware (views and URLconf as usual)."""

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        if is_async:
            self._middleware_chain = convert_exception_to_response(self._get_response_async)
            return
        self._middleware_chain = convert_exception_to_response(
            RequestIdMiddleware(convert_exception_to_response(self._get_response))
        )

    def get_response(self, request: HttpRequest) -> HttpResponseBase:
        request.urlconf = HOOKS_URLCONF  # resolved among the integrations' URLs, not the whole site's
        return super().get_response(request)


def build_application():
    full = get_wsgi_application()  # calls django.setup()
    hooks = WebhookHandler()

    def application(environ, start_response):
        if environ.get("PATH_INFO", "").startswith(HOOKS_PREFIX):
            return hooks(environ, start_response)
        return full(environ, start_response)

    return application


application = build_application()
