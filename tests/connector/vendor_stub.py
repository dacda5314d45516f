"""A tiny scripted HTTP server on 127.0.0.1 for testing the shared ApiClient mechanics.

Each test queues (status, headers, body) answers; the server records the requests it received.
Vendor behaviour itself is tested against each integration's sandbox; this only drives the base.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StubServer:
    def __init__(self):
        self.answers: list[tuple[int, dict, bytes, float]] = []
        self.requests: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                stub.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                status, headers, payload, delay = stub.answers.pop(0) if stub.answers else (200, {}, b"{}", 0)
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args):  # keep test output clean
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def queue(self, status: int = 200, body=None, headers: dict | None = None, delay: float = 0.0) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body if body is not None else {}).encode()
        self.answers.append((status, headers or {}, payload, delay))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
