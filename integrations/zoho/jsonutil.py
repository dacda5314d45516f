"""JSON with exact money: Decimals are written as JSON numbers without passing through float."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

_MARK = "@@zoho-decimal@@"
_MARKED = re.compile(r'"' + _MARK + r'(-?[0-9]+(?:\.[0-9]+)?)"')


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("non-finite amount")
        return f"{_MARK}{value:f}"
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> str:
    """`json.dumps` where Decimal('12.30') becomes the number 12.30, exactly."""
    return _MARKED.sub(r"\1", json.dumps(value, default=_default, separators=(",", ":")))


def loads(text: str | bytes) -> Any:
    """`json.loads` reading every non-integer number as a Decimal (never a float)."""
    return json.loads(text, parse_float=Decimal)
