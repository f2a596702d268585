"""Error kinds: the environment's fault, the user's cancel, and everything else (our bug).

``UserFacingError`` carries a message fit to show a user as it is (CLI stderr,
an error dialog). Any other exception is a bug and goes to the crash handler.
"""

from __future__ import annotations


class ThreadlineError(Exception):
    """Base of every error Threadline raises on purpose."""


class UserFacingError(ThreadlineError):
    """A problem with the environment or the input, explained in one line."""


class FormatError(UserFacingError):
    """A file is not in the format that was claimed or detected."""


class NotFoundError(UserFacingError):
    """A customer, note or setting that was asked for does not exist."""


class AmbiguousError(UserFacingError):
    """A name matched more than one customer."""


class Cancelled(ThreadlineError):
    """The user cancelled a long operation."""


class DamagedDatabaseError(UserFacingError):
    """The database file fails SQLite's checks; it is not written to."""
