"""A data access or portability request: everything stored about one customer, through the
CLI a user runs, as versioned JSON that its published schema accepts and as CSV files a
spreadsheet opens without running anything."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import jsonschema

from app.export.data import csv_safe
from tests.test_cli_e2e import CLI, DEMO, cli  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "resources" / "export" / "customer-export.schema.json"
TABLES = (
    "customer.csv identities.csv events.csv orders.csv order_lines.csv notes.csv changes.csv "
    "reply_marks.csv customer.json"
).split()


def _jane(cli: CLI) -> dict:  # noqa: F811
    files = [
        str(DEMO / "bloom-and-branch-mail.mbox"),
        str(DEMO / "WhatsApp Chat with +44 7700 900123.txt"),
        str(DEMO / "orders_export.csv"),
    ]
    cli.json("import", *files)
    return next(c for c in cli.json("customers") if "jane.doe@gmail.com" in c["emails"])


def test_json_export_holds_everything_and_matches_its_schema(
    cli: CLI,  # noqa: F811
    tmp_path: Path,
) -> None:
    jane = _jane(cli)
    formula = '=HYPERLINK("http://x")  prefers ribbons'
    assert cli.run("config", "user_name", "Sam").returncode == 0
    assert cli.run("note", str(jane["id"]), formula).returncode == 0
    out = tmp_path / "jane.json"
    done = cli.run("export", "jane.doe@gmail.com", "--json", str(out))
    assert done.returncode == 0, done.stderr
    assert "everything stored about the customer" in done.stdout
    data = json.loads(out.read_text(encoding="utf-8"))
    jsonschema.validate(data, json.loads(SCHEMA.read_text(encoding="utf-8")))
    assert (data["format"], data["version"]) == ("threadline-customer-export", 1)

    shown = cli.json("show", str(jane["id"]))
    assert len(data["events"]) == len(shown["events"]) == jane["event_count"]
    values = {(i["kind"], i["value"]) for i in data["identities"]}
    assert ("email", "jane.doe@gmail.com") in values and ("phone", "+447700900123") in values
    assert all(i["first_seen_in"] for i in data["identities"])
    channels = {e["channel"] for e in data["events"]}
    assert {"email", "chat", "order"} <= channels
    orders = [e["order"] for e in data["events"] if "order" in e]
    assert len(orders) == 2 and all(o["lines"] for o in orders)
    assert all(e["imported_from"] for e in data["events"])
    (note,) = data["notes"]
    assert note["body"] == formula and note["author"] == "Sam"
    # What the waiting list keeps about them travels too: languages and marks.
    assert {e["language"] for e in data["events"] if e["channel"] == "chat"} & {"en"}
    assert data["reply_marks"] == []


def test_export_carries_reply_marks_and_their_undo(cli: CLI, tmp_path: Path) -> None:  # noqa: F811
    jane = _jane(cli)
    assert cli.run("answered", str(jane["id"])).returncode == 0
    assert cli.run("answered", str(jane["id"]), "--undo").returncode == 0
    assert cli.run("snooze", str(jane["id"]), "--until", "2099-01-01").returncode == 0
    out = tmp_path / "jane.json"
    assert cli.run("export", str(jane["id"]), "--json", str(out)).returncode == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    jsonschema.validate(data, json.loads(SCHEMA.read_text(encoding="utf-8")))
    marks = [(m["kind"], m["undone_at"] is not None) for m in data["reply_marks"]]
    assert marks == [("answered", True), ("snooze", False)]
    assert data["reply_marks"][1]["until"].startswith("2099-01-01")
    archive = tmp_path / "jane.zip"
    assert cli.run("export", str(jane["id"]), "--zip", str(archive)).returncode == 0
    with zipfile.ZipFile(archive) as z:
        rows = list(csv.DictReader(io.StringIO(z.read("reply_marks.csv").decode("utf-8-sig"))))
        events = list(csv.DictReader(io.StringIO(z.read("events.csv").decode("utf-8-sig"))))
    assert [r["kind"] for r in rows] == ["answered", "snooze"]
    assert any(e["language"] == "en" for e in events)


def test_zip_export_is_spreadsheet_safe_and_lists_merges(cli: CLI, tmp_path: Path) -> None:  # noqa: F811
    jane = _jane(cli)
    other = next(c for c in cli.json("customers") if c["id"] != jane["id"])
    cli.json("merge", str(jane["id"]), str(other["id"]))
    cli.run("note", str(jane["id"]), "=1+2")
    cli.run("note", str(jane["id"]), "@SUM(A1)")
    archive = tmp_path / "jane.zip"
    printed = cli.json("export", str(jane["id"]), "--zip", str(archive), "--json")
    assert printed["data"][0]["path"] == str(archive)
    with zipfile.ZipFile(archive) as z:
        names = set(z.namelist())
        assert set(TABLES) <= names
        notes = list(csv.DictReader(io.StringIO(z.read("notes.csv").decode("utf-8-sig"))))
        changes = list(csv.DictReader(io.StringIO(z.read("changes.csv").decode("utf-8-sig"))))
        data = json.loads(z.read("customer.json"))
    assert sorted(n["body"] for n in notes) == ["'=1+2", "'@SUM(A1)"]
    assert any(c["action"] == "merge" for c in changes)
    assert other["id"] in data["customer"]["merged_from"]


def test_formula_cells_are_neutralised() -> None:
    for text in ("=1+1", "+44 7700", "-2", "@cmd", "\tx", "\rx"):
        assert csv_safe(text) == "'" + text
    assert csv_safe("plain") == "plain" and csv_safe(None) == "" and csv_safe(3) == "3"


def test_export_needs_a_target(cli: CLI) -> None:  # noqa: F811
    _jane(cli)
    done = cli.run("export", "jane.doe@gmail.com")
    assert done.returncode != 0 and "--pdf FILE, --json FILE or --zip FILE" in done.stderr
    assert "Traceback" not in done.stderr
