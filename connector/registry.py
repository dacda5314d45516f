"""Registry of external systems and flow presets (DESIGN §5).

Integration apps declare themselves in `AppConfig.ready()`:

    register_system(SystemInfo(key="zoho", name="Zoho Books", auth_kind=AuthKind.OAUTH2, ...))
    register_preset(FlowPreset(key="shipstation_zoho", source_system="shipstation", target_system="zoho", ...))

so adding a system touches no core file. The engine and the UI only read from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from connector.http import ApiError, Permanent


class AuthKind(StrEnum):
    OAUTH2 = "oauth2"  # Connect redirects to the vendor's consent page
    API_KEY = "api_key"  # key/secret form validated by a live call
    APP_KEY = "app_key"  # store URL, then the store's own key-issuing page (WooCommerce)
    QBWC = "qbwc"  # a downloadable .qwc file for the QuickBooks Web Connector


class Role(StrEnum):
    STORE = "store"  # orders and customers come from here
    SHIPPING = "shipping"
    ACCOUNTING = "accounting"


@dataclass(frozen=True)
class PeriodicTask:
    """One Celery beat entry: `task` (a registered task name) sent every `schedule` (seconds or a
    celery.schedules.crontab)."""

    name: str
    task: str
    schedule: Any


@dataclass(frozen=True)
class SystemInfo:
    key: str
    name: str
    auth_kind: AuthKind
    role: Role
    description: str = ""
    logo: str = ""  # static path
    connect_url_name: str = ""  # URL name of the Connect view; empty until the integration wires it
    connection_url_name: str = ""  # URL name (taking pk) of one connection's page: status, repair, disconnect
    docs: str = ""  # what the integration can and cannot do, shown on its page
    # Called by `manage.py demo` (sandboxes on) with (organization, user); returns facts to print,
    # e.g. the sandbox account's credentials. Lets each integration connect its own sandbox.
    demo_setup: Callable | None = None
    # The adapter classes (connector.adapters) the engine uses; None where the system offers no side.
    source_adapter: type | None = None
    target_adapter: type | None = None
    # callable(delivery) run by connector.tasks.process_delivery for this system's webhooks.
    delivery_handler: Callable | None = None
    # callable(connection, previous_token) -> str, run by connector.webhook_tokens after the connection's
    # webhook URL token was replaced: points the vendor's webhooks at the new address (with a new secret
    # where the system signs with one), removes those at the old address, and says what it did; raises
    # ApiError when the vendor refused. None: the system receives no webhooks, nothing to rotate.
    rotate_webhooks: Callable | None = None
    # Celery beat entries for this system's periodic tasks, merged with the core ones by beat
    # (connector.celery), and (task name pattern, queue) routes for its tasks.
    periodic_tasks: tuple[PeriodicTask, ...] = ()
    task_routes: tuple[tuple[str, str], ...] = ()
    # callable(capability, flow options) -> Capability: what a capability writing to this system
    # becomes under a flow's options (an accounting system writing sales orders instead of invoices).
    resolve_capability: Callable | None = None
    # callable(target_type) -> str: the Record.stage a record whose write of `target_type` to this
    # system failed for good is left in ("" leaves the stage as it is).
    failed_stage: Callable | None = None
    # Reconciliation (connector.reconcile): callable(connection, options, period) -> iterable of
    # SourceOrder, every order of the period read from the source in one paginated pass; the same for
    # the shipments whose cost a flow books (SourceOrder of kind "shipment"); and
    # callable(connection, options, period, items=("order",)) -> iterable of LedgerDocument, every
    # document of the period booking those kinds of item, read from the ledger itself in one
    # paginated, rate-limited pass per document type (no per-order lookups). It may raise
    # connector.reconcile.LedgerNotReady when the ledger answers only later.
    # `reconcile_items(options)`: the kinds of item the ledger can reconcile under a flow's options
    # (default: orders); e.g. shipments only when their costs are booked as journals.
    reconcile_orders: Callable | None = None
    reconcile_shipments: Callable | None = None
    reconcile_documents: Callable | None = None
    reconcile_items: Callable | None = None


@dataclass(frozen=True)
class FlowPreset:
    key: str
    name: str
    source_system: str
    target_system: str
    # (source object, target object[, "reverse"]), e.g. ("order", "invoice"). A "reverse" pair runs
    # from the flow's target connection back to its source connection (Exact ↔ ShipStation: orders
    # go out to ShipStation, shipments come back to Exact).
    capabilities: tuple[tuple[str, ...], ...]
    description: str = ""
    options_form: str = ""  # dotted path to a Form class for the preset's options
    default_options: dict = field(default_factory=dict)
    default_interval_seconds: int = 300  # how often the poll runs; webhooks arrive in between
    runner: Callable | None = None  # callable(flow) -> summary dict, run by poll_flow
    # (target type, TargetAdapter class) pairs: an adapter the preset brings for a target type the
    # written-to system's own adapter does not offer (instructions back to a store through the
    # optional methods of its source adapter). The engine writes that type with it instead.
    writers: tuple[tuple[str, type], ...] = ()
    # `manage.py demo`: callable(sandbox facts by system key) -> the options a merchant would pick,
    # from the sandboxes just made; and whether the demo's flow of this preset starts enabled.
    demo_options: Callable | None = None
    demo_starts: bool = False


@dataclass(frozen=True)
class SandboxInfo:
    """What a system's sandbox app contributes. Sandbox apps are installed only when SANDBOX_ENABLED
    and register themselves in `AppConfig.ready()`, so a production process has no entry here and
    product code reaches a sandbox only through this registry, never by importing it."""

    system: str  # the SystemInfo.key it emulates
    # callable(organization, user) -> dict of facts (credentials, pages). Creates the organisation's
    # sandbox account when it has none and connects it when it is not connected; safe to call again.
    provision: Callable
    page_url_name: str = ""  # the organisation's sandbox page (keys, orders, fault knobs)
    try_url_name: str = ""  # POST from the Connect page: provision, then connect through the usual path


_systems: dict[str, SystemInfo] = {}
_presets: dict[str, FlowPreset] = {}
_sandboxes: dict[str, SandboxInfo] = {}


class RegistryError(LookupError):
    pass


def register_system(info: SystemInfo) -> SystemInfo:
    existing = _systems.get(info.key)
    if existing is not None and existing != info:
        raise RegistryError(f"system {info.key!r} is registered twice with different definitions")
    _systems[info.key] = info
    return info


def register_preset(preset: FlowPreset) -> FlowPreset:
    existing = _presets.get(preset.key)
    if existing is not None and existing != preset:
        raise RegistryError(f"flow preset {preset.key!r} is registered twice with different definitions")
    _presets[preset.key] = preset
    return preset


def register_sandbox(info: SandboxInfo) -> SandboxInfo:
    existing = _sandboxes.get(info.system)
    if existing is not None and existing != info:
        raise RegistryError(f"sandbox {info.system!r} is registered twice with different definitions")
    _sandboxes[info.system] = info
    return info


def sandbox_of(system_key: str) -> SandboxInfo | None:
    """The sandbox emulating `system_key`, or None (sandboxes off, or none for that system)."""
    return _sandboxes.get(system_key)


def sandboxes() -> list[SandboxInfo]:
    return [_sandboxes[s.key] for s in systems() if s.key in _sandboxes]


def systems() -> list[SystemInfo]:
    order = list(Role)
    return sorted(_systems.values(), key=lambda s: (order.index(s.role), s.name))


def get_system(key: str) -> SystemInfo:
    try:
        return _systems[key]
    except KeyError:
        raise RegistryError(f"unknown system {key!r}") from None


def presets() -> list[FlowPreset]:
    return sorted(_presets.values(), key=lambda p: p.name)


def get_preset(key: str) -> FlowPreset:
    try:
        return _presets[key]
    except KeyError:
        raise RegistryError(f"unknown flow preset {key!r}") from None


REVERSE = "reverse"


@dataclass(frozen=True)
class Capability:
    source_type: str
    target_type: str
    reverse: bool = False


def capabilities_of(preset: FlowPreset) -> list[Capability]:
    return [Capability(c[0], c[1], len(c) > 2 and c[2] == REVERSE) for c in preset.capabilities]


def writing_system(preset: FlowPreset, capability: Capability) -> str:
    """The key of the system a capability writes to: the preset's target, or its source when reversed."""
    return preset.source_system if capability.reverse else preset.target_system


def resolve_capability(preset: FlowPreset, capability: Capability, options: dict) -> Capability:
    """The capability as a flow's options make it, asked of the system it writes to."""
    info = _systems.get(writing_system(preset, capability))
    if info is None or info.resolve_capability is None:
        return capability
    return info.resolve_capability(capability, options)


def writer_of(preset: FlowPreset, target_type: str) -> type | None:
    """The adapter class the preset brings for `target_type`, or None (the target system's own writes it)."""
    return dict(preset.writers).get(target_type)


def periodic_tasks() -> list[PeriodicTask]:
    return [task for info in systems() for task in info.periodic_tasks]


def task_routes() -> list[tuple[str, str]]:
    return [route for info in systems() for route in info.task_routes]


def target_unavailable(connection, target_type: str) -> ApiError | None:
    """Why `connection` cannot take `target_type` writes now (the typed error its target adapter would
    raise, with a remediation), or None when it can.

    Lets another system's flow ask before it offers or runs a capability (an options form showing it as
    unavailable, a push that alerts instead of calling) without importing that system's app (§5). An
    adapter class answers through an optional classmethod `unavailable(connection, target_type)`."""
    info = get_system(connection.system)
    cls = info.target_adapter
    if cls is None or target_type not in cls.target_types:
        return Permanent(
            f"{info.name} cannot be a target for {target_type.replace('_', ' ')}s.",
            remediation="Pick a connection of a system that offers it.",
        )
    check = getattr(cls, "unavailable", None)
    return check(connection, target_type) if check is not None else None


RECONCILED_ITEMS = ("order", "shipment")


@dataclass(frozen=True)
class Reconciliation:
    """One kind of source item a flow reconciles: `item` ("order" | "shipment"), listed by the system of
    the flow's source connection and booked in its target's ledger, or the other way round (`reverse`:
    Exact ↔ ShipStation books ShipStation's shipments in Exact, the flow's source)."""

    item: str
    reverse: bool = False

    def connections(self, flow) -> tuple[Any, Any]:
        """(the connection listing the items, the ledger's connection) of `flow`."""
        return (flow.target, flow.source) if self.reverse else (flow.source, flow.target)


def _lister(info: SystemInfo | None, item: str) -> Callable | None:
    if info is None:
        return None
    return info.reconcile_orders if item == "order" else info.reconcile_shipments


def _ledger_items(info: SystemInfo | None, options: dict) -> tuple[str, ...]:
    if info is None or info.reconcile_documents is None:
        return ()
    return tuple(info.reconcile_items(options)) if info.reconcile_items else ("order",)


def reconciliations(preset: FlowPreset, options: dict | None = None) -> list[Reconciliation]:
    """What a flow of this preset reconciles under its options: each order or shipment capability whose
    listing system lists that kind of item for a period and whose ledger lists the documents booking it."""
    options = preset.default_options if options is None else options
    found: list[Reconciliation] = []
    for capability in capabilities_of(preset):
        if capability.source_type not in RECONCILED_ITEMS:
            continue
        lister = preset.target_system if capability.reverse else preset.source_system
        ledger = _systems.get(writing_system(preset, capability))
        if _lister(_systems.get(lister), capability.source_type) is None:
            continue
        if capability.source_type not in _ledger_items(ledger, options):
            continue
        entry = Reconciliation(capability.source_type, capability.reverse)
        if entry not in found:
            found.append(entry)
    return found


def reconcilable(preset: FlowPreset, options: dict | None = None) -> bool:
    """Whether a flow of this preset can be reconciled: orders or shipments go from a system that lists
    them for a period to a ledger that lists the documents booking them."""
    return bool(reconciliations(preset, options))


def reconcile_inputs(flow, period) -> tuple[list, list]:
    """Both sides of a flow's reconciliation for `period`: every source item (orders and shipments, as
    the flow reconciles them) and every ledger document booking them, each side read in one pass per
    kind through the systems' listers. The ledger is read a day wider (connector.reconcile.Period.widened).
    Raises ApiError when a system cannot be read, LedgerNotReady when the ledger answers later."""
    preset = get_preset(flow.preset)
    plan = reconciliations(preset, flow.options)
    items: list = []
    for entry in plan:
        lister_connection, _ = entry.connections(flow)
        items.extend(_lister(get_system(lister_connection.system), entry.item)(lister_connection, flow.options, period))
    documents: list = []
    for ledger_connection in {entry.connections(flow)[1].pk: entry.connections(flow)[1] for entry in plan}.values():
        kinds = tuple(e.item for e in plan if e.connections(flow)[1].pk == ledger_connection.pk)
        lister = get_system(ledger_connection.system).reconcile_documents
        documents.extend(lister(ledger_connection, flow.options, period.widened(), items=kinds))
    return items, documents
