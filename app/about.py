"""What Help → About says: the version, and the licences of the components shipped with Threadline.

Both are read from what is installed (``importlib.metadata``), so they stay true
when a dependency is upgraded; running from a source tree that was never
installed, the version comes from ``pyproject.toml``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from app.paths import resources_dir

# The distributions Threadline ships (PyPI names, "|" between alternatives), and the licence
# each states, used only when its installed metadata says nothing readable.
BUNDLED: tuple[tuple[str, str, str], ...] = (
    ("PySide6|PySide6_Essentials", "Qt for Python (PySide6)", "LGPL-3.0-only"),
    ("SQLAlchemy", "SQLAlchemy", "MIT"),
    ("alembic", "Alembic", "MIT"),
    ("keyring", "keyring", "MIT"),
    ("IMAPClient", "IMAPClient", "BSD-3-Clause"),
    ("python-dateutil", "python-dateutil", "Apache-2.0 OR BSD-3-Clause"),
    ("phonenumbers", "phonenumbers", "Apache-2.0"),
    ("rapidfuzz", "RapidFuzz", "MIT"),
    ("nh3", "nh3", "MIT"),
    ("charset-normalizer", "charset-normalizer", "MIT"),
    ("platformdirs", "platformdirs", "MIT"),
    ("Authlib", "Authlib", "BSD-3-Clause"),
    ("requests", "Requests", "Apache-2.0"),
    ("certifi", "certifi", "MPL-2.0"),
    ("ijson", "ijson", "BSD-3-Clause"),
    ("pypdf", "pypdf", "BSD-3-Clause"),
    ("libpff-python", "libpff (Outlook data files)", "LGPL-3.0-or-later"),
    ("olefile", "olefile (Outlook messages)", "BSD-2-Clause"),
    ("compressed-rtf", "compressed-rtf (Outlook RTF bodies)", "MIT"),
    ("striprtf", "striprtf (Outlook RTF bodies)", "BSD-3-Clause"),
    ("psycopg|psycopg-binary", "Psycopg (team server)", "LGPL-3.0-only"),
)

_CLASSIFIER = re.compile(r"^License :: (?:OSI Approved :: )?(.+)$")


@dataclass(frozen=True)
class Component:
    """One shipped component: its name, installed version ("" if not installed), licence."""

    name: str
    version: str
    licence: str


def version() -> str:
    """Threadline's version: the installed package's, else ``pyproject.toml``'s, else "unknown"."""
    try:
        return metadata.version("threadline")
    except metadata.PackageNotFoundError:
        pass
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return "unknown"
    found = data.get("project", {}).get("version")
    return str(found) if found else "unknown"


def _first(meta: metadata.PackageMetadata, field: str) -> str:
    values = meta.get_all(field) or []
    return str(values[0]) if values else ""


def _stated_licence(meta: metadata.PackageMetadata) -> str:
    """The licence a distribution's metadata names in a few words, or ""."""
    expression = _first(meta, "License-Expression")
    if expression.strip():
        return expression.strip()
    text = _first(meta, "License").strip()
    if text and "\n" not in text and len(text) <= 60:
        return text
    named = []
    for classifier in meta.get_all("Classifier") or []:
        match = _CLASSIFIER.match(classifier)
        if match:
            named.append(match.group(1).strip())
    return " OR ".join(named)


def components() -> list[Component]:
    """The bundled components with their installed versions and licences, then the fonts."""
    found: list[Component] = []
    for dists, name, fallback in BUNDLED:
        component = Component(name, "", fallback)
        for dist in dists.split("|"):
            try:
                meta = metadata.metadata(dist)
                installed = metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
            component = Component(name, installed, _stated_licence(meta) or fallback)
            break
        found.append(component)
    found.append(Component("Noto fonts", "", "SIL Open Font License 1.1 (fonts/OFL.txt)"))
    return found


def fonts_licence() -> str:
    """The text of the bundled fonts' licence, or "" when it is not there."""
    try:
        return (resources_dir() / "fonts" / "OFL.txt").read_text(encoding="utf-8")
    except OSError:
        return ""


def licences_text() -> str:
    """Every component and its licence, one per line, as plain text."""
    lines = [f"{c.name}{' ' + c.version if c.version else ''} — {c.licence}" for c in components()]
    return "\n".join(lines)
