"""A requests transport that answers through django.test.Client, for benchmarks that measure
calls without running a web server. It is mounted explicitly on the one session a benchmark
measures (`session.mount(base, InProcessTransport(...))`); nothing global is patched."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from django.test import Client
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict


class InProcessTransport(BaseAdapter):
    def __init__(self, base_url: str):
        super().__init__()
        self.client = Client(HTTP_HOST=urlsplit(base_url).netloc)

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:
        parts = urlsplit(request.url or "")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        content_type = headers.pop("Content-Type", "application/octet-stream")
        body = request.body or b""
        answer = self.client.generic(
            request.method or "GET",
            parts.path + (f"?{parts.query}" if parts.query else ""),
            data=body.encode() if isinstance(body, str) else body,
            content_type=content_type,
            headers=headers,
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response.headers = CaseInsensitiveDict(dict(answer.items()))
        response._content = answer.content
        response.url = request.url or ""
        response.request = request
        response.reason = answer.reason_phrase
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        return None
