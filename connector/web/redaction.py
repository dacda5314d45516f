"""Redaction of payloads shown in pages, events and the API: secrets never leave the server."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

from connector.logs import SECRET_NAME_PARTS, is_secret_name, redact_text

SECRET_KEY_PARTS = SECRET_NAME_PARTS


def is_secret_key(key: str) -> bool:
    """A key named like a secret; "-" reads as "_" (ShipStation V2's header is "API-Key")."""
    return is_secret_name(key)


def redact(value: Any) -> Any:
    """A copy of `value` with every secret-looking key's value masked, at any depth, and secrets
    inside text values (`Authorization: Basic ...` in a logged header line) masked too."""
    if isinstance(value, dict):
        return {k: ("[redacted]" if is_secret_key(str(k)) else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


# Form fields that are secrets in OAuth token exchanges but ordinary words in JSON bodies
# (Zoho answers `"code": 0` on success).
_SECRET_FORM_FIELDS = frozenset({"code", "key", "client_id"})
# An XML element named like a secret (`<password>...</password>`); linear: bounded name, one class.
_ELEMENT = re.compile(r"<([\w:.-]{1,80})>[^<]*</\1>")


def _mask_element(match: re.Match) -> str:
    name = match.group(1)
    return f"<{name}>[redacted]</{name}>" if is_secret_key(name) else match.group(0)


def redact_body(text: str) -> str:
    """A request or response body with its secrets masked, for the record timeline.

    JSON is redacted by key at any depth; a form body by field name (including OAuth's `code`);
    anything else (a body cut short, XML, plain text) by masking the value after any secret-looking
    name. The result may be shown to every member of the organisation.
    """
    if not text:
        return ""
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, (dict, list)):
        return json.dumps(redact(parsed), ensure_ascii=False)
    stripped = text.strip()
    if "=" in stripped and not any(c in stripped for c in ' \n<{"'):
        pairs = parse_qsl(stripped, keep_blank_values=True)
        if pairs:
            return urlencode(
                [(k, "[redacted]" if is_secret_key(k) or k.lower() in _SECRET_FORM_FIELDS else v) for k, v in pairs],
                safe="[]",
            )
    return _ELEMENT.sub(_mask_element, redact_text(text))
