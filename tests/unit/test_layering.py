"""The layers of the code, read from the source: ``directory`` never imports ``liaison``, and no module imports
itself back through other modules (no import cycles).

Every ``import`` and ``from … import`` in every module of ``directory/`` and ``liaison/`` counts, also those inside
functions and under ``if TYPE_CHECKING:``: a cycle broken only by a late import is still a cycle in the design.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("directory", "liaison")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    """Every module of the project packages by dotted name (a package by its ``__init__.py``)."""
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _imported_names(tree: ast.Module, name: str, is_package: bool) -> Iterator[str]:
    """Dotted names a module imports: ``import a.b`` gives ``a.b``; ``from a import b`` gives ``a.b``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = name if is_package else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{node.module}" if node.module else package
            else:
                base = node.module or ""
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    """Module → the project modules it imports (a name that is not a module counts as its nearest package)."""
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        targets: set[str] = set()
        for imported in _imported_names(tree, name, path.name == "__init__.py"):
            while imported and imported not in known:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_the_imports_it_should() -> None:
    graph = import_graph()
    assert "directory.web.app" in graph
    assert "directory.web.context" in graph["directory.web.pages"]  # from directory.web.context import CTX
    assert "directory.web.auth" in graph["directory.web.app"]  # from directory.web import auth
    assert any(t.startswith("directory.") for t in graph["liaison.service"])


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_directory_imports_nothing_from_liaison() -> None:
    graph = import_graph()
    offending = {
        f"{name} imports {target}"
        for name, targets in graph.items()
        if name.split(".")[0] == "directory"
        for target in targets
        if target.split(".")[0] == "liaison"
    }
    assert not offending, sorted(offending)


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


FEATURES = ("liaison.letters", "liaison.meetings", "liaison.workdays", "liaison.cli", "liaison.service")


def test_mail_machinery_imports_no_feature() -> None:
    """The outbox, scheduler, inbound core and transports serve every feature and know none of them."""
    graph = import_graph()
    offending = {
        f"{name} imports {target}"
        for name, targets in graph.items()
        if name == "liaison.mail" or name.startswith("liaison.mail.")
        for target in targets
        if any(target == f or target.startswith(f + ".") for f in FEATURES)
    }
    assert not offending, sorted(offending)


def test_module_and_class_sizes() -> None:
    """One concern per module: no module over 400 lines, no class over 300."""
    too_big = []
    for name, path in modules().items():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > 400:
            too_big.append(f"{name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno and node.end_lineno - node.lineno + 1 > 300:
                too_big.append(f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not too_big, too_big


def test_test_modules_share_helpers_only_through_tests_support() -> None:
    """A test module or a conftest imported by another test module ties unrelated areas together (and an imported
    test module's tests are collected twice); shared helpers live in ``tests.support``."""
    offending = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        name = _module_name(path)
        if name.startswith(("tests.support", "tests.fixtures.")):
            continue  # the helpers themselves, and generators of fixture data run from older checkouts
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for imported in _imported_names(tree, name, path.name == "__init__.py"):
            if imported.startswith("tests.") and not imported.startswith("tests.support."):
                offending.append(f"{name} imports {imported}")
    assert not offending, offending
