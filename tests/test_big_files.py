"""Big exports are read as streams: peak memory stays far below the file's size.

Each test writes a file of a few hundred MB in ``tmp_path`` (line by line, never whole in
memory), then reads or imports it in a child process that reports its own peak resident
size (``VmHWM`` on Linux: ``ru_maxrss`` would include the size of the test process it was
forked from). The files are shaped so that the work is reading, not storing: long
lines, few events. Before streaming, each of these took two to four times the file's size.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

MB = 1024 * 1024
# The child's peak resident size must stay under this, whatever the file's size (the
# interpreter, SQLAlchemy and the connectors take about 60 MB to start with).
BOUND_MB = 200

_PARSE = """
import json, resource, sys
from datetime import UTC
from pathlib import Path
from app.records import EventRecord, ParseOptions, Problem
from connectors import registry

events = problems = longest = cut = 0
for item in registry.get(sys.argv[2]).parse(Path(sys.argv[1]), ParseOptions(tz=UTC)):
    if isinstance(item, EventRecord):
        events += 1
        longest = max(longest, len(item.text))
        cut += getattr(item, "text_cut", 0)
    elif isinstance(item, Problem):
        problems += 1
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
try:  # ru_maxrss keeps the parent's size from before exec; the memory map's own peak does not
    with open("/proc/self/status") as status:
        peak = next(int(x.split()[1]) // 1024 for x in status if x.startswith("VmHWM:"))
except (OSError, StopIteration):
    pass
print(json.dumps({"events": events, "problems": problems, "longest": longest, "cut": cut,
                  "peak_mb": peak}))
"""

_IMPORT = """
import contextlib, io, json, resource, sys
from app.cli import main

out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = main(["--db", sys.argv[1], "import", "--json", "--tz", "UTC", sys.argv[2]])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
try:  # ru_maxrss keeps the parent's size from before exec; the memory map's own peak does not
    with open("/proc/self/status") as status:
        peak = next(int(x.split()[1]) // 1024 for x in status if x.startswith("VmHWM:"))
except (OSError, StopIteration):
    pass
print(json.dumps({"code": code, "report": json.loads(out.getvalue()), "peak_mb": peak}))
"""


@pytest.fixture(autouse=True)
def _remove_big_files(tmp_path: Path) -> Iterator[None]:
    """pytest keeps the temporary folders of recent runs: do not leave hundreds of MB there."""
    yield
    for path in tmp_path.iterdir():
        if path.is_file():
            path.unlink()


def _child(script: str, *args: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _write(path: Path, chunks: Iterator[str]) -> int:
    with path.open("w", encoding="utf-8", newline="") as fh:
        for chunk in chunks:
            fh.write(chunk)
    return path.stat().st_size


def _whatsapp(messages: int, giant_mb: int) -> Iterator[str]:
    """An Android export: ``messages`` ordinary messages, then one of ``giant_mb`` MB."""
    body = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 35
    for i in range(messages):
        minute = i // 4
        day, hour, mi = 1 + minute // 1440 % 28, minute // 60 % 24, minute % 60
        who = "Alice" if i % 2 else "Bob"
        yield f"{day:02d}/03/2024, {hour:02d}:{mi:02d} - {who}: {i} {body}\n"
    yield "29/03/2024, 23:59 - Alice: here it comes\n"
    line = "z" * 9_999 + "\n"
    block = line * 100
    for _ in range(giant_mb):
        yield block


def test_whatsapp_export_of_hundreds_of_mb_parses_in_flat_memory(tmp_path: Path) -> None:
    path = tmp_path / "WhatsApp Chat with Bob.txt"
    size = _write(path, _whatsapp(20_000, 200))
    assert size > 220 * MB
    result = _child(_PARSE, str(path), "whatsapp")
    assert result["events"] == 20_001
    assert result["problems"] == 0
    # The giant message is collected up to the stored-text bound; the rest is only counted.
    assert result["longest"] == 1_000_001
    assert isinstance(result["cut"], int) and result["cut"] > 180 * MB
    assert isinstance(result["peak_mb"], int) and result["peak_mb"] < BOUND_MB, result


def _shopify(orders: int, junk_mb: int) -> Iterator[str]:
    """A Shopify export with ``orders`` orders, then one line of ``junk_mb`` MB."""
    yield (
        "Name,Email,Financial Status,Paid at,Currency,Subtotal,Shipping,Taxes,Total,"
        "Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,"
        "Billing Name,Notes,Id\n"
    )
    note = "A note about the order that goes on for a while. " * 80
    for i in range(orders):
        created = "2024-01-01 10:00:00 +0000"
        yield (
            f"#{1000 + i},b{i}@example.com,paid,{created},EUR,10.00,0,0,10.00,{created},"
            f"1,Mug,10.00,M1,Buyer {i},{note},{i}\n"
        )
    block = "x" * MB
    for _ in range(junk_mb):
        yield block


def test_shopify_export_with_a_line_of_hundreds_of_mb_parses_in_flat_memory(
    tmp_path: Path,
) -> None:
    path = tmp_path / "orders_export.csv"
    size = _write(path, _shopify(3000, 220))
    assert size > 220 * MB
    result = _child(_PARSE, str(path), "shopify")
    assert result["events"] == 3000
    assert result["problems"] == 1  # the over-long line, skipped
    assert isinstance(result["peak_mb"], int) and result["peak_mb"] < BOUND_MB, result


def _chat_csv(rows: int) -> Iterator[str]:
    yield "Conversation ID,Created At,Author,Email,Message\n"
    body = "word " * 1000
    for i in range(rows):
        author = "Agent" if i % 2 else f"Customer {i // 10}"
        email = "" if i % 2 else f"c{i // 10}@example.com"
        yield f"c{i // 10},2024-01-01 {i // 60 % 24:02d}:{i % 60:02d}:00,{author},{email},{body}\n"


def test_chat_csv_of_hundreds_of_mb_parses_in_flat_memory(tmp_path: Path) -> None:
    path = tmp_path / "transcripts.csv"
    size = _write(path, _chat_csv(50_000))
    assert size > 220 * MB
    result = _child(_PARSE, str(path), "chat_csv")
    assert result["events"] == 50_000
    assert isinstance(result["peak_mb"], int) and result["peak_mb"] < BOUND_MB, result


def test_importing_a_chat_message_of_hundreds_of_mb_stores_a_bounded_text(
    tmp_path: Path,
) -> None:
    # The same import of a small file: what the app itself needs (its modules, the
    # language model), which the big file may not grow by much.
    small_dir = tmp_path / "small"
    small_dir.mkdir()
    small = small_dir / "WhatsApp Chat with Bob.txt"
    _write(small, _whatsapp(10, 0))
    baseline = _child(_IMPORT, str(small_dir / "small.db"), str(small))
    assert isinstance(baseline["peak_mb"], int)
    path = tmp_path / "WhatsApp Chat with Bob.txt"
    _write(path, _whatsapp(10, 150))
    result = _child(_IMPORT, str(tmp_path / "big.db"), str(path))
    assert result["code"] == 0, result
    report = result["report"]
    assert isinstance(report, dict)
    (file_report,) = report["files"]
    assert file_report["added"] == 11
    cut = [n for n in file_report["notices"] if "text cut" in n]
    assert len(cut) == 1
    assert cut[0].startswith("WhatsApp Chat with Bob.txt:11: text cut at 1,000,000 characters")
    peak = result["peak_mb"]
    assert isinstance(peak, int) and peak < baseline["peak_mb"] + 100, (result, baseline)
    assert (tmp_path / "big.db").stat().st_size < 50 * MB
