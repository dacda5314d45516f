"""The shape of the product code, checked from its import graph (DESIGN §3, §5).

Every product module (connector/, accounts/, integrations/; sandboxes and migrations aside) is parsed
with `ast`, imports inside functions included and relative imports resolved, and the suite fails on:

- an import cycle among product modules (each cycle is reported with its path),
- a core module (connector/, accounts/; the sandbox kit aside) naming a vendor in code: string
  literals and identifiers count, docstrings and comments do not,
- a product module importing a sandbox module (`integrations.<system>.sandbox`): product code reaches
  a sandbox only through the registry.

Each check lists all of its violations at once, so one run shows the whole picture.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT_PACKAGES = ("connector", "accounts", "integrations")
CORE_PACKAGES = ("connector", "accounts")

# Known cycles inside integrations, being removed: each entry is one cycle's modules (a strongly
# connected component, sorted as the failure message prints it). Their owners shrink this list as
# they break them; nothing may be added. Keep it sorted.
KNOWN_CYCLES: frozenset[tuple[str, ...]] = frozenset()

# Known vendor names in core code, being removed: (file, the literal or identifier). Nothing may be
# added; whoever moves one into its integration removes it here. Keep it sorted.
KNOWN_VENDOR_MENTIONS: frozenset[tuple[str, str]] = frozenset()

VENDOR_WORDS = re.compile(r"shipstation|woocommerce|zoho|qbdesktop|quickbooks", re.IGNORECASE)
# "exact" is also an English word ("exactly", Django's `iexact`): it counts where it names the vendor,
# as a whole token (exact, exact_..., .exact, Exact Online, EXACT_...) but not inside a longer word.
EXACT_VENDOR = re.compile(r"(?<![A-Za-z])(?:exact|Exact|EXACT)(?![a-z])(?!\s+(?:[a-z]|match|same))")


def _is_product_file(path: Path) -> bool:
    parts = path.relative_to(ROOT).parts
    return "migrations" not in parts and "sandbox" not in parts


@cache
def product_modules() -> dict[str, Path]:
    """Dotted module name → file, for every product module."""
    modules: dict[str, Path] = {}
    for package in PRODUCT_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if not _is_product_file(path):
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _is_package(module: str) -> bool:
    return (ROOT / module.replace(".", "/") / "__init__.py").exists()


def _resolve_relative(module: str, node: ast.ImportFrom) -> str:
    package = module if _is_package(module) else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    if not node.module:
        return package
    return f"{package}.{node.module}" if package else node.module


def _runtime_nodes(tree: ast.AST):
    """Every node, except those under `if TYPE_CHECKING:` (annotations only, never imported at run time)."""
    pending = [tree]
    while pending:
        node = pending.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and ast.unparse(child.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
                pending.extend(child.orelse)
                continue
            pending.append(child)


def imported_names(module: str, source: str) -> set[str]:
    """Every module name `module` imports anywhere in its body (functions included), absolute;
    imports under `if TYPE_CHECKING:` are for annotations and do not count."""
    names: set[str] = set()
    for node in _runtime_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_relative(module, node) if node.level else (node.module or "")
            names.add(base)
            # `from package import module` imports that module; `from module import name` does not.
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


@cache
def import_graph() -> dict[str, set[str]]:
    """Product module → the product modules it imports (the most specific module each import names)."""
    modules = product_modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = set()
        for name in imported_names(module, path.read_text()):
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module and not (module.startswith(name + ".") and _is_package(name)):
                targets.add(name)
        graph[module] = targets
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """The modules of each import cycle: every strongly connected component of more than one module
    (its modules sorted), so cycles that share modules are reported together, once."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = [0]

    def visit(start: str) -> None:
        # Iterative Tarjan: the product graph is deep enough to matter for recursion.
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(tuple(sorted(component)))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(components)


def shortest_cycle(graph: dict[str, set[str]], component: tuple[str, ...]) -> tuple[str, ...]:
    """The shortest import path from the component's first module back to itself, inside it."""
    members = set(component)
    start = component[0]
    paths = {start: (start,)}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & members):
                if child == start:
                    return (*paths[node], start)
                if child not in paths:
                    paths[child] = (*paths[node], child)
                    following.append(child)
        frontier = following
    return tuple(component)


def _docstring_nodes(tree: ast.AST) -> set[int]:
    """Ids of string statements that are documentation, not code: docstrings and bare strings."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            found.add(id(node.value))
    return found


def _code_words(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of every identifier and string literal in code."""
    docs = _docstring_nodes(tree)
    words: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            words.append((line, node.value))
        elif isinstance(node, ast.Name):
            words.append((line, node.id))
        elif isinstance(node, ast.Attribute):
            words.append((line, node.attr))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            words.append((line, node.name))
        elif isinstance(node, ast.arg | ast.keyword) and node.arg:
            words.append((line, node.arg))
        elif isinstance(node, ast.alias):
            words.append((line, node.name))
            if node.asname:
                words.append((line, node.asname))
        elif isinstance(node, ast.ImportFrom) and node.module:
            words.append((line, node.module))
    return words


def names_vendor(text: str) -> str | None:
    match = VENDOR_WORDS.search(text) or EXACT_VENDOR.search(text)
    return match.group(0) if match else None


def vendor_mentions() -> list[tuple[str, int, str, str]]:
    """(file, line, vendor, text) of every vendor named in core code."""
    found = set()
    for module, path in product_modules().items():
        if module.split(".")[0] not in CORE_PACKAGES:
            continue
        for line, text in _code_words(ast.parse(path.read_text(), filename=str(path))):
            vendor = names_vendor(text)
            if vendor:
                found.add((str(path.relative_to(ROOT)), line, vendor, text))
    return sorted(found)


def _is_sandbox_module(name: str) -> bool:
    parts = name.split(".")
    return len(parts) >= 3 and parts[0] == "integrations" and parts[2] == "sandbox"


# --- The checks -----------------------------------------------------------------------------------


def test_no_import_cycles_among_product_modules():
    graph = import_graph()
    new = [
        f"{', '.join(component)}\n    e.g. {' → '.join(shortest_cycle(graph, component))}"
        for component in find_cycles(graph)
        if component not in KNOWN_CYCLES
    ]
    assert not new, "import cycles among product modules (modules, then one cycle through them):\n" + "\n".join(new)


def test_known_cycles_are_still_there():
    """An allow-listed cycle that is gone must leave the list, so it cannot come back unnoticed."""
    present = set(find_cycles(import_graph()))
    gone = sorted(" ".join(c) for c in KNOWN_CYCLES if c not in present)
    assert not gone, "broken cycles still allow-listed in KNOWN_CYCLES (remove them):\n" + "\n".join(gone)


def test_core_names_no_vendor_in_code():
    mentions = [
        f"{path}:{line}: {vendor!r} in {text[:80]!r}"
        for path, line, vendor, text in vendor_mentions()
        if (path, text) not in KNOWN_VENDOR_MENTIONS
    ]
    assert not mentions, "core modules naming a vendor in code:\n" + "\n".join(mentions)


def test_known_vendor_mentions_are_still_there():
    present = {(path, text) for path, _line, _vendor, text in vendor_mentions()}
    gone = sorted(f"{path}: {text!r}" for path, text in KNOWN_VENDOR_MENTIONS if (path, text) not in present)
    assert not gone, "removed vendor names still allow-listed in KNOWN_VENDOR_MENTIONS (remove them):\n" + "\n".join(
        gone
    )


def test_no_product_module_imports_a_sandbox():
    offenders = []
    for module, path in product_modules().items():
        for name in sorted(imported_names(module, path.read_text())):
            if _is_sandbox_module(name):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "product modules importing a sandbox module:\n" + "\n".join(offenders)


# --- The checker itself ---------------------------------------------------------------------------


def test_cycle_finder_reports_each_cycle_with_its_path():
    graph = {"a": {"b"}, "b": {"c", "x"}, "c": {"a"}, "x": {"b"}, "d": {"e"}, "e": {"d", "f"}, "f": set()}
    assert find_cycles(graph) == [("a", "b", "c", "x"), ("d", "e")]
    assert shortest_cycle(graph, ("a", "b", "c", "x")) == ("a", "b", "c", "a")


def test_vendor_words_count_in_code_but_not_in_docs():
    tree = ast.parse(
        '"""ShipStation and Zoho in a docstring."""\n'
        "def f(value):\n"
        '    """Exact Online, here too."""\n'
        "    # woocommerce in a comment\n"
        '    return value.filter(name__iexact="exactly")\n'
        'ROUTE = "exact.keep_alive"\n'
        "ZohoTarget = None\n"
    )
    found = [text for _line, text in _code_words(tree) if names_vendor(text)]
    assert sorted(found) == ["ZohoTarget", "exact.keep_alive"]


def test_walker_sees_imports_inside_functions_and_relative_ones():
    source = (
        "from typing import TYPE_CHECKING\n"
        "from .models import Flow\n"
        "if TYPE_CHECKING:\n    from integrations.zoho import adapter\n"
        "def f():\n    from . import tasks\n    from ..accounts import models\n"
    )
    names = imported_names("connector.probe", source)
    assert {"connector.models", "connector.tasks", "accounts.models"} <= names
    assert not any(name.startswith("integrations") for name in names)
