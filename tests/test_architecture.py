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
