"""Serve requests to PUBLIC_BASE_URL from this process (the demo runs without a web server).

`serve_in_process()` mounts a requests transport adapter on every `requests.Session` created inside
the block (Authlib's OAuth2Session included) for URLs under PUBLIC_BASE_URL only, and answers them
through django.test.Client. Nothing else is intercepted; outside the block nothing changes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.test import Client
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict


class InProcessAdapter(BaseAdapter):
    def __init__(self, host: str):
        super().__init__()
        self.client = Client(HTTP_HOST=host)

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:
        parts = urlsplit(request.url or "")
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        content_type = headers.pop("Content-Type", "application/octet-stream")
        body = request.body or b""
        answer = self.client.generic(
            request.method or "GET",
            path,
            data=body.encode() if isinstance(body, str) else body,
            content_type=content_type,
            headers=headers,
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response.headers = CaseInsensitiveDict({k: v for k, v in answer.items()})
        response._content = answer.content
        response.url = request.url or ""
        response.request = request
        response.reason = answer.reason_phrase
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        return None


@contextlib.contextmanager
def serve_in_process() -> Iterator[None]:
    base = settings.PUBLIC_BASE_URL.rstrip("/") + "/"
    adapter = InProcessAdapter(urlsplit(base).netloc)
    original_init = requests.Session.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.mount(base, adapter)

    requests.Session.__init__ = init
    try:
        yield
    finally:
        requests.Session.__init__ = original_init
