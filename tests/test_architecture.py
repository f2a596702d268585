"""The layering rules of DESIGN.md, checked: a Qt-free core, a UI without SQL, migrations only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QT_ALLOWED = {"app.export.pdf"}


def _modules(package: str) -> list[str]:
    names = []
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        if "migrations" in rel.parts:
            continue
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def test_core_imports_without_qt() -> None:
    modules = [m for m in _modules("app") + _modules("connectors") if m not in QT_ALLOWED]
    assert "app.ingest" in modules and "connectors.registry" in modules
    script = (
        "import importlib, sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'PySide6' or name.startswith('PySide6.') or name == 'ui' "
        "or name.startswith('ui.'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "from connectors import registry\n"
        "registry.all_connectors()\n"
        "print('ok', len(sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")


def _imports(path: Path) -> set[str]:
    """Every module a file imports; ``from pkg import mod`` counts as ``pkg.mod`` too."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            if node.module in ("app", "connectors"):
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_ui_builds_no_sql_and_knows_no_connector_internals() -> None:
    for path in (ROOT / "ui").rglob("*.py"):
        for name in _imports(path):
            assert not name.startswith("sqlalchemy"), f"{path.name} imports {name}"
            assert not name.startswith("connectors.") or name in (
                "connectors.registry",
                "connectors.base",
            ), f"{path.name} imports {name}"


def test_connectors_never_touch_storage() -> None:
    for path in (ROOT / "connectors").rglob("*.py"):
        for name in _imports(path):
            assert name not in ("app.db", "app.models", "app.ingest"), f"{path.name}: {name}"
            assert not name.startswith("sqlalchemy"), f"{path.name} imports {name}"


def test_schema_comes_only_from_migrations() -> None:
    for package in ("app", "connectors", "ui"):
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            source = path.read_text(encoding="utf-8")
            assert "create_all(" not in source, f"{path} creates tables outside Alembic"


# --- layers, in the manner of import-linter ------------------------------------------------
#
# Top to bottom. A module may import its own layer and the layers below it, never one
# above. Interfaces reach the core only through the facade (plus a few support modules
# that hold no data); connectors see only the leaf. Every import counts, also one inside a
# function (a lazy import hides a dependency, it does not remove it) and one only for type
# checking; cycles are looked for among the imports that run.

LAYERS = ("interfaces", "facade", "core", "connectors", "leaf")
#: Plain values and errors, shared by everyone; they import nothing but each other.
LEAF = frozenset({"app", "app.records", "app.errors", "app.redact", "app.paths"})
#: The GUI (``ui``) and the CLI (``app.cli`` and every ``app.cli_*`` command module).
INTERFACES = frozenset({"ui", "app.cli"})
FACADE = frozenset({"app.service"})
#: Core modules an interface may use besides the facade: no database, no session.
INTERFACE_SUPPORT = frozenset({"app.about", "app.logs", "app.terminal", "app.formatting"})
#: What an interface may ask the connectors (DESIGN.md: "it asks the registry").
INTERFACE_CONNECTORS = frozenset({"connectors.registry", "connectors.base"})


def layer_of(module: str) -> str:
    """The layer a module of the project belongs to."""
    if module in LEAF:
        return "leaf"
    if module in INTERFACES or module.split(".")[0] == "ui" or module.startswith("app.cli_"):
        return "interfaces"
    if module in FACADE:
        return "facade"
    if module.split(".")[0] == "connectors":
        return "connectors"
    return "core"


def _project_modules(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in ("app", "connectors", "ui"):
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root).with_suffix("")
            if "migrations" in rel.parts:
                continue
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_graph(root: Path, *, runtime_only: bool = False) -> dict[str, set[str]]:
    """Each project module → the project modules it imports (anywhere in the file).

    ``from pkg import mod`` counts as ``pkg.mod`` when that is a module, else as ``pkg``;
    ``import a.b.c`` as the longest project module it names. With ``runtime_only``,
    imports under ``if TYPE_CHECKING:`` are left out (they never run).
    """
    modules = _project_modules(root)

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets: set[str] = set()
        stack: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"))]
        while stack:
            node = stack.pop()
            if isinstance(node, ast.If) and runtime_only and _type_checking_only(node):
                stack.extend(node.orelse)
                continue
            if isinstance(node, ast.Import):
                targets.update(t for a in node.names if (t := known(a.name)))
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    target = full if full in modules else known(node.module)
                    if target:
                        targets.add(target)
            stack.extend(ast.iter_child_nodes(node))
        targets.discard(module)
        graph[module] = targets
    return graph


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import that goes up a layer, or past the facade from an interface."""
    rank = {name: i for i, name in enumerate(reversed(LAYERS))}
    found = []
    for module, targets in sorted(graph.items()):
        here = layer_of(module)
        for target in sorted(targets):
            there = layer_of(target)
            if rank[there] > rank[here]:
                found.append(f"{module} ({here}) imports {target} ({there}): upward")
            elif (
                here == "interfaces"
                and there in ("core", "connectors")
                and target not in INTERFACE_SUPPORT | INTERFACE_CONNECTORS
            ):
                found.append(
                    f"{module} ({here}) imports {target} ({there}): not through the facade"
                )
    return found


def import_cycles(graph: dict[str, set[str]], prefixes: tuple[str, ...]) -> list[list[str]]:
    """The cycles (strongly connected groups of two or more) among modules under ``prefixes``."""
    nodes = sorted(m for m in graph if m.split(".")[0] in prefixes)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w.split(".")[0] not in prefixes:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in nodes:
        if v not in index:
            visit(v)
    return groups


def test_layers_hold() -> None:
    graph = import_graph(ROOT)
    assert "app.service" in graph and "ui.main_window" in graph
    assert layer_violations(graph) == []


def test_no_import_cycles_in_the_core_or_the_connectors() -> None:
    assert import_cycles(import_graph(ROOT, runtime_only=True), ("app", "connectors")) == []


def test_interfaces_open_no_session() -> None:
    for path in [*(ROOT / "ui").rglob("*.py"), *(ROOT / "app").glob("cli*.py")]:
        source = path.read_text(encoding="utf-8")
        for banned in ("db.session(", "read_session(", ".session()", "from app import queries"):
            assert banned not in source, f"{path.name}: {banned}"


def test_the_contract_catches_an_upward_import_a_shortcut_and_a_lazy_cycle(
    tmp_path: Path,
) -> None:
    files = {
        "app/__init__.py": "",
        "app/records.py": "from app import db\n",  # the leaf reaching up
        "app/db.py": "",
        "app/service.py": "from app import db\n",
        "app/identity.py": "from app.merges import merge\n",
        "app/merges.py": "def refresh():\n    from app.identity import stats\n",  # lazy cycle
        "connectors/__init__.py": "",
        "connectors/mbox.py": "from app.records import EventRecord\nfrom app import db\n",
        "ui/__init__.py": "",
        "ui/window.py": "from app.service import Service\nfrom app.db import Database\n",
        "ui/typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from app.identity import x\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    graph = import_graph(tmp_path)
    assert layer_violations(graph) == [
        "app.records (leaf) imports app.db (core): upward",
        "connectors.mbox (connectors) imports app.db (core): upward",
        "ui.typed (interfaces) imports app.identity (core): not through the facade",
        "ui.window (interfaces) imports app.db (core): not through the facade",
    ]
    assert import_cycles(import_graph(tmp_path, runtime_only=True), ("app", "connectors")) == [
        ["app.identity", "app.merges"]
    ]
