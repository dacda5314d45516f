"""What changed between two versions of a canonical payload, as a person reads it.

The engine stores the changes of every update in the "updated" event (so the record page can say
"total 10.00 → 12.50" long after the older version is gone), and the record page compares the
version the target holds with the newest one seen at the source.
"""

from __future__ import annotations

from typing import Any

MAX_CHANGES = 50
MAX_VALUE_CHARS = 200

_MISSING = object()


def payload_changes(old: Any, new: Any, *, limit: int = MAX_CHANGES) -> list[dict]:
    """The leaves that differ, in document order: [{"path": "lines[0].quantity", "old": "1", "new": "2"}].

    A key only in `new` has no "old" (added), a key only in `old` has no "new" (removed). At most
    `limit` changes are returned; a last {"path": "…", "more": n} says how many were left out.
    """
    changes: list[dict] = []
    _walk(old, new, "", changes)
    if len(changes) > limit:
        return [*changes[:limit], {"path": "…", "more": len(changes) - limit}]
    return changes


def _walk(old: Any, new: Any, path: str, out: list[dict]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            _walk(old.get(key, _MISSING), new.get(key, _MISSING), f"{path}.{key}" if path else str(key), out)
        return
    if isinstance(old, list) and isinstance(new, list):
        for index in range(max(len(old), len(new))):
            _walk(
                old[index] if index < len(old) else _MISSING,
                new[index] if index < len(new) else _MISSING,
                f"{path}[{index}]",
                out,
            )
        return
    if old == new:
        return
    change: dict = {"path": path or "(whole)"}
    if old is not _MISSING:
        change["old"] = _shown(old)
    if new is not _MISSING:
        change["new"] = _shown(new)
    out.append(change)


def _shown(value: Any) -> Any:
    """Leaves stay as they are (numbers, text, None); a whole sub-object added or removed is shown
    as short text, so one change never carries a large payload."""
    if isinstance(value, (dict, list)):
        text = repr(value) if not value else f"{len(value)} {'fields' if isinstance(value, dict) else 'items'}"
        return text
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return value[:MAX_VALUE_CHARS] + "…"
    return value
