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


class UnrecognisedFormat(FormatError):
    """No connector recognises a file (or folder) as its format."""


class NotFoundError(UserFacingError):
    """A customer, note or setting that was asked for does not exist."""


class AmbiguousError(UserFacingError):
    """A name matched more than one customer."""


class BadRecordError(ThreadlineError):
    """An item a connector yielded cannot be stored as it is (a time without a zone).

    The import records it as a problem with the item's location and goes on.
    """


class Cancelled(ThreadlineError):
    """The user cancelled a long operation."""


class DamagedDatabaseError(UserFacingError):
    """The database file fails SQLite's checks; it is not written to."""


_KINDS = (  # words found in an exception class's name (or its bases'), and what they mean
    (("ssl", "certificate", "cert"), "the secure connection could not be verified"),
    (("timeout", "timedout"), "no answer in time"),
    (("locked",), "it is locked"),
    (("denied", "permission"), "access was denied"),
    (("connect", "network", "socket", "resolve", "dns"), "no connection could be made"),
)


def in_words(exc: BaseException) -> str:
    """What went wrong, in words a user reads, never a library's class name.

    The class name (``ConnectTimeout``, ``KeyringLocked``) stays in the log; this
    gives the kind of failure: no connection, no answer in time, locked, denied.
    """
    names = " ".join(c.__name__.lower() for c in type(exc).__mro__)
    for words, meaning in _KINDS:
        if any(w in names for w in words):
            return meaning
    return "it reported an unexpected error"
