"""Demo data: a small flower shop's mail, WhatsApp chats and Shopify orders.

The demo is loaded through the ordinary import path from real-format files in
``resources/demo`` (an mbox, WhatsApp exports, a Shopify orders CSV), so it
shows exactly what a user's own imports would. It configures the demo
business's own address and chat name first, unless the user already set
owner details.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from app import settings
from app.db import Database
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
    """
    with db.session() as session:
        if not any(settings.get_list(session, key) for key in settings.OWNER_KEYS):
            for key, value in DEMO_OWNER.items():
                settings.set_value(session, key, value)
        if not settings.is_set(session, "region"):
            # The demo shop is in the UK: its local numbers are UK numbers.
            settings.set_value(session, "region", "GB")
    # Its WhatsApp exports were made on a UK phone: their times are UK times.
    return import_paths(db, [demo_dir()], tz=ZoneInfo("Europe/London"))
