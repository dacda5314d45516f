"""Which systems pair, and why some do not: the flow picker's list (pure, from the registry only).

Every registered flow type is a pairing with its one-line explanation. Two registered systems with no
flow type between them are listed as not offered, with the reason in plain words: two ledgers have
nothing to move between them (each is the books), two order sources each send their orders to a
ledger, and anything else is simply not built yet. The reasons come from each system's role, so a
new system or flow type changes this list without touching this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from connector.registry import FlowPreset, Role, SystemInfo

BOTH_LEDGERS = "Both are ledgers: each one is the books, so there is nothing to move from one to the other."
BOTH_SOURCES = "Both hold orders: send each one's orders to your ledger with its own flow."
NOT_BUILT = "Not available yet."


@dataclass(frozen=True)
class Pairing:
    """A flow type that joins `source` to `target`; `missing` names the systems still to connect."""

    preset: FlowPreset
    source: SystemInfo
    target: SystemInfo
    summary: str
    missing: tuple[str, ...]

    @property
    def ready(self) -> bool:
        return not self.missing


@dataclass(frozen=True)
class NotOffered:
    first: SystemInfo
    second: SystemInfo
    reason: str


def one_line(text: str) -> str:
    """The first sentence of a description."""
    text = " ".join(text.split())
    head, dot, _rest = text.partition(". ")
    return head + "." if dot else text


def offered(systems: list[SystemInfo], presets: list[FlowPreset], connected: set[str]) -> list[Pairing]:
    """Every flow type, ready ones (both systems connected) first."""
    by_key = {s.key: s for s in systems}
    found = []
    for preset in presets:
        source, target = by_key.get(preset.source_system), by_key.get(preset.target_system)
        if source is None or target is None:
            continue  # an integration that is not installed here
        missing = tuple(s.name for s in (source, target) if s.key not in connected)
        found.append(Pairing(preset, source, target, one_line(preset.description), missing))
    return sorted(found, key=lambda p: (not p.ready, p.preset.name))


def not_offered(systems: list[SystemInfo], presets: list[FlowPreset]) -> list[NotOffered]:
    """Every pair of registered systems that no flow type joins (in either direction), and why."""
    joined = {frozenset((p.source_system, p.target_system)) for p in presets}
    ordered = sorted(systems, key=lambda s: s.name)
    return [
        NotOffered(a, b, _reason(a, b)) for a, b in combinations(ordered, 2) if frozenset((a.key, b.key)) not in joined
    ]


def _reason(a: SystemInfo, b: SystemInfo) -> str:
    if a.role == b.role == Role.ACCOUNTING:
        return BOTH_LEDGERS
    if a.role != Role.ACCOUNTING and b.role != Role.ACCOUNTING:
        return BOTH_SOURCES
    return NOT_BUILT
