"""Structured logs: one JSON line per event, with ids, never secrets."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

_CONTEXT_FIELDS = ("organization_id", "connection_id", "flow_id", "record_id", "delivery_id", "task_id")
_SECRET_PATTERN = re.compile(
    r"(?i)(access_token|refresh_token|client_secret|consumer_secret|api_secret|password|secret|token|authorization)"
    r"([\"']?\s*[:=]\s*[\"']?)([^\s\"'&,}]+)"
)


def redact_text(text: str) -> str:
    """Mask anything that looks like `secret=...` or `"access_token": "..."` in free text."""
    return _SECRET_PATTERN.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_text(record.getMessage()),
        }
        for name in _CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)
