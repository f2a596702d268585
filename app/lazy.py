"""Modules imported on first use, so a CLI command pays only for the modules it runs.

``threadline --version`` must not import SQLAlchemy, and ``threadline customers``
must not import the IMAP client, the keyring or the connectors. The CLI modules
therefore bind the heavy modules they use to ``LazyModule`` stand-ins, and
type-check against the real ones::

    if TYPE_CHECKING:
        from app import queries
    else:
        queries = LazyModule("app.queries")

The module is imported the first time one of its attributes is read, the way an
``import`` statement imports it (so ``python -X importtime`` shows it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Collection, Iterator
from types import ModuleType
from typing import Any


def _import(name: str) -> ModuleType:
    # The import statement's own path (not importlib.import_module), which is the one that
    # ``python -X importtime`` reports.
    __import__(name)
    return sys.modules[name]


class LazyModule:
    """Stands for the module ``name`` and imports it when an attribute is first read."""

    __slots__ = ("_module", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = _import(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy_function(module: str, name: str) -> Callable[..., Any]:
    """A function that imports ``module`` on its first call and calls ``module.name``."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(_import(module), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"``{module}.{name}``, imported on first call."
    return call


class LazyChoices:
    """An argument's choices, read only when argparse checks a given value or shows help."""

    def __init__(self, read: Callable[[], Collection[str]]) -> None:
        self._read = read

    def __contains__(self, value: object) -> bool:
        return value in self._read()

    def __iter__(self) -> Iterator[str]:
        return iter(self._read())


def lazy_choices(action: argparse.Action, read: Callable[[], Collection[str]]) -> None:
    """Restrict ``action`` to the values ``read()`` returns, without calling it yet.

    Set after ``add_argument``, which formats an action's choices (and so would
    import the module that lists them) as soon as it is added. Help and error
    messages show them exactly as if they had been given to ``add_argument``.
    """
    action.choices = LazyChoices(read)
