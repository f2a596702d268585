"""Demo data: a small flower shop's mail, WhatsApp chats and Shopify orders.

The demo is loaded through the ordinary import path from real-format files in
``resources/demo`` (an mbox, WhatsApp exports, a Shopify orders CSV), so it
shows exactly what a user's own imports would. It configures the demo
business's own address and chat name first, unless the database already has
owner details.

The demo has its own database (``app.paths.demo_db_path``): the app and
``threadline demo`` load it there, never into the user's database; only a
script that names a database (``threadline --db PATH demo``) loads it elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from app import settings
from app.db import Database
from app.errors import UserFacingError
from app.ingest import FileReport, import_paths
from app.paths import resources_dir

DEMO_OWNER = {
    "owner_emails": "hello@bloomandbranch.co.uk",
    "owner_names": "Bloom & Branch",
}


def demo_dir() -> Path:
    """The folder holding the demo files."""
    return resources_dir() / "demo"


def load_demo(db: Database) -> list[FileReport]:
    """Import the demo files into ``db`` (a second load adds nothing).

    Returns:
        One report per demo file.

    Raises:
        UserFacingError: the demo files are not part of this installation.
    """
    folder = demo_dir()
    if not folder.is_dir() or not any(p.is_file() for p in folder.iterdir()):
        raise UserFacingError(f"the demo data is not part of this installation ({folder})")
    with db.session() as session:
        if not any(settings.get_list(session, key) for key in settings.OWNER_KEYS):
            for key, value in DEMO_OWNER.items():
                settings.set_value(session, key, value)
        if not settings.is_set(session, "region"):
            # The demo shop is in the UK: its local numbers are UK numbers.
            settings.set_value(session, "region", "GB")
    # Its WhatsApp exports were made on a UK phone: their times are UK times.
    return import_paths(db, [folder], tz=ZoneInfo("Europe/London"))
