"""The settings of one Threadline database, declared once with their types and defaults.

Settings live in the database's ``setting`` table, so a team sharing one
PostgreSQL database shares them too. Secrets are never settings: credentials
live in the OS keyring only. The UI and the CLI read and write settings only
through this module.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from app.errors import UserFacingError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# The CLI builds its parser from SETTINGS on every run, so this module imports SQLAlchemy,
# the models and phonenumbers only inside the functions that use them.


def _supported_regions() -> set[str]:
    import phonenumbers

    regions: set[str] = phonenumbers.SUPPORTED_REGIONS
    return regions


def _validate_region(value: str) -> str:
    code = value.strip().upper()
    if code not in _supported_regions():
        raise UserFacingError(f"{value!r} is not a country code phone numbers know (e.g. GB, US)")
    return code


def _validate_zone(value: str) -> str:
    name = value.strip()
    if name not in available_timezones():
        raise UserFacingError(f"{value!r} is not a time zone name (e.g. Europe/London)")
    return name


def _validate_list(value: str) -> str:
    return ", ".join(part.strip() for part in value.split(",") if part.strip())


def _validate_yes_no(value: str) -> str:
    word = value.strip().lower()
    if word in ("yes", "true", "1", "on"):
        return "yes"
    if word in ("no", "false", "0", "off"):
        return "no"
    raise UserFacingError(f"{value!r}: say yes or no")


def _validate_currency(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise UserFacingError(f"{value!r} is not an ISO currency code (e.g. EUR)")
    return code


def _validate_opening_hours(value: str) -> str:
    from app.opening_hours import validate

    return validate(value)


def machine_zone() -> str:
    """The machine's IANA time zone name, or "UTC" when it cannot be told."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz:
        try:
            ZoneInfo(tz)
            return tz
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        target = Path("/etc/localtime").resolve()
        parts = target.parts
        if "zoneinfo" in parts:
            name = "/".join(parts[parts.index("zoneinfo") + 1 :])
            ZoneInfo(name)
            return name
    except (OSError, ZoneInfoNotFoundError, ValueError):
        pass
    try:
        name = Path("/etc/timezone").read_text(encoding="utf-8").strip()
        ZoneInfo(name)
        return name
    except (OSError, ZoneInfoNotFoundError, ValueError):
        pass
    return "UTC"


def machine_region() -> str:
    """The country of the machine's locale (``en_GB.UTF-8`` → GB), or "US"."""
    for var in ("LC_ALL", "LC_CTYPE", "LANG"):
        value = os.environ.get(var, "")
        lang = value.split(".")[0]
        if "_" in lang:
            code = lang.split("_")[1].upper()
            if code in _supported_regions():
                return code
    return "US"


@dataclass(frozen=True)
class SettingSpec:
    """A declared setting: key, help text, default, and a validator that normalises."""

    key: str
    help: str
    default: Callable[[], str]
    validate: Callable[[str], str]


SETTINGS: dict[str, SettingSpec] = {
    spec.key: spec
    for spec in (
        SettingSpec(
            "region",
            "ISO country code for phone numbers written without a country code",
            machine_region,
            _validate_region,
        ),
        SettingSpec(
            "timezone",
            "time zone for sources that state none (chat exports) and for display",
            machine_zone,
            _validate_zone,
        ),
        SettingSpec(
            "owner_emails",
            "the business's own email addresses, comma-separated",
            lambda: "",
            _validate_list,
        ),
        SettingSpec(
            "owner_phones",
            "the business's own phone numbers, comma-separated",
            lambda: "",
            _validate_list,
        ),
        SettingSpec(
            "owner_names",
            "the business's own chat names, comma-separated",
            lambda: "",
            _validate_list,
        ),
        SettingSpec(
            "currency",
            "currency for order exports that state none (ISO code)",
            lambda: "USD",
            _validate_currency,
        ),
        SettingSpec(
            "user_name",
            "your name, written as the author of notes",
            lambda: os.environ.get("USER", "") or os.environ.get("USERNAME", ""),
            lambda value: value.strip(),
        ),
        SettingSpec(
            "business_name",
            "the business's name, as customers know it",
            lambda: "",
            lambda value: value.strip(),
        ),
        SettingSpec(
            "welcomed",
            "yes once the first-run welcome was answered (the window then no longer asks)",
            lambda: "no",
            _validate_yes_no,
        ),
        SettingSpec(
            "google_client_id",
            "this installation's OAuth client id at Google, for Sign in with Google",
            lambda: "",
            lambda value: value.strip(),
        ),
        SettingSpec(
            "google_client_secret",
            "the installed-app client secret Google gives with that id (it is not secret)",
            lambda: "",
            lambda value: value.strip(),
        ),
        SettingSpec(
            "microsoft_client_id",
            "this installation's application (client) id at Microsoft, for Sign in with Microsoft",
            lambda: "",
            lambda value: value.strip(),
        ),
        SettingSpec(
            "automated_customers",
            "yes to make automated senders (no-reply, lists, notifications) customers too",
            lambda: "no",
            _validate_yes_no,
        ),
        SettingSpec(
            "opening_hours",
            "when you answer, e.g. Mon-Fri 09:00-17:30; Sat 10:00-14:00 (waits are then "
            "also counted in working hours; empty: not set)",
            lambda: "",
            _validate_opening_hours,
        ),
    )
}

OWNER_KEYS = ("owner_emails", "owner_phones", "owner_names")


def spec(key: str) -> SettingSpec:
    """The declaration of ``key``.

    Raises:
        UserFacingError: no such setting.
    """
    try:
        return SETTINGS[key]
    except KeyError:
        raise UserFacingError(
            f"unknown setting {key!r}; settings are: {', '.join(SETTINGS)}"
        ) from None


_HELD = "threadline_settings"


def _stored(session: Session) -> dict[str, str]:
    """Every stored setting, read in one query once per transaction of ``session``.

    An import reads a dozen settings per file (region, the owner's addresses, …), most of
    them never set: one query each was a round trip each on a server. ``set_value``
    keeps the held values in step; a new transaction or savepoint reads them afresh.
    """
    from sqlalchemy import select

    from app.models import Setting

    held = session.info.get(_HELD)
    if held is None or held[0] != _transaction(session):
        rows = session.execute(select(Setting.key, Setting.value))
        held = session.info[_HELD] = (_transaction(session), {str(k): str(v) for k, v in rows})
    values: dict[str, str] = held[1]
    return values


def _transaction(session: Session) -> tuple[object, object]:
    """The transaction and savepoint the held settings belong to (a savepoint rolled back
    may have undone a change)."""
    return (session.get_transaction(), session.get_nested_transaction())


def get(session: Session, key: str) -> str:
    """The value of ``key`` (its default when never set)."""
    declared = spec(key)
    value = _stored(session).get(key)
    return value if value is not None else declared.default()


def is_set(session: Session, key: str) -> bool:
    """True if ``key`` was set explicitly (not just its default)."""
    spec(key)
    return key in _stored(session)


def set_value(session: Session, key: str, value: str) -> str:
    """Validate, normalise and store ``value``; returns what was stored.

    Raises:
        UserFacingError: unknown key or invalid value.
    """
    from app.models import Setting

    normalised = spec(key).validate(value)
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=normalised))
    else:
        row.value = normalised
    session.flush()
    held = session.info.get(_HELD)
    if held is not None and held[0] == _transaction(session):
        held[1][key] = normalised
    return normalised


def needs_welcome(session: Session) -> bool:
    """True for a database nobody has set up yet: no setting was ever saved in it.

    The first-run welcome saves at least ``welcomed``, and any ``threadline config``
    saves its key, so a database set up either way is never welcomed again.
    """
    from sqlalchemy import select

    from app.models import Setting

    return session.scalar(select(Setting.key).limit(1)) is None


def get_all(session: Session) -> dict[str, str]:
    """Every declared setting with its current value."""
    from sqlalchemy import select

    from app.models import Setting

    stored = {row.key: row.value for row in session.scalars(select(Setting))}
    return {key: stored.get(key, s.default()) for key, s in SETTINGS.items()}


def get_list(session: Session, key: str) -> list[str]:
    """A comma-separated setting as a list of its non-empty parts."""
    return [part.strip() for part in get(session, key).split(",") if part.strip()]


def add_to_list(session: Session, key: str, value: str) -> bool:
    """Add ``value`` to a list setting unless present (case-insensitive); True if added."""
    current = get_list(session, key)
    if any(item.casefold() == value.strip().casefold() for item in current):
        return False
    set_value(session, key, ", ".join([*current, value.strip()]))
    return True


def zone(session: Session) -> ZoneInfo:
    """The configured time zone."""
    return ZoneInfo(get(session, "timezone"))
