"""The ``threadline`` command as the CLI tests run it: the installed entry point.

Tests run the console script that ``pip install -e '.[test]'`` put next to the Python
running them, exactly as a user's script runs ``threadline``, not ``python -m app.cli``
from the source tree: a broken entry point or packaging fails the tests.
"""

from __future__ import annotations

import shutil
import sys
from functools import cache
from pathlib import Path


@cache
def threadline() -> str:
    """The path of the ``threadline`` entry point installed beside ``sys.executable``.

    Raises:
        RuntimeError: it is not installed in this environment.
    """
    folder = Path(sys.executable).parent
    found = shutil.which("threadline", path=str(folder))
    if found is None:
        raise RuntimeError(
            f"the threadline command is not installed in {folder}: the CLI tests run the "
            f"installed entry point; install it with {sys.executable} -m pip install -e '.[test]'"
        )
    return found
