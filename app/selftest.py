"""``threadline --self-test``: check that this installation works, one line per check.

It runs where the app runs — from source, an installed wheel or the PyInstaller
bundle — and touches nothing of the user's: everything happens in a temporary
folder. The checks:

- database: a new database is created through the Alembic migrations;
- import: one bundled sample of each channel (``resources/selftest``: an .eml,
  a WhatsApp export, a Shopify orders CSV) goes through the ordinary import path;
- search: the full-text index finds a word of the sample mail;
- worker: a parse worker process (the one big imports parse in) starts and parses the
  sample mail (in the bundle this needs ``multiprocessing.freeze_support`` at its entry);
- suggestions: the child process that builds a big stored list of merge suggestions for
  the window (``app.suggestion_child``) starts, builds the sample's list and stores it;
- window: the main window opens offscreen on that database and closes;
- pdf: the customer's history is exported to a PDF whose extracted text holds
  the sample's accented, Cyrillic and CJK text; its emoji is reported, not
  failed, when it is missing from the text layer (Qt's PDF writer paints
  colour emoji as pictures, so they are seen but cannot be copied);
- keyring: the keyring passwords would go to is not a plain-text file (no
  usable keyring at all is reported, not failed: the app then asks for
  passwords at each sync);
- tls: the trust store the app uses (the system's plus the bundled certifi
  roots) holds well-known public roots, and an in-memory TLS handshake with a
  bundled test chain verifies the chain and the host name only when the
  chain's test root is trusted (offline: no server is contacted).

Exit code 0 only when every check passed. Qt is imported only by the window
and PDF checks.
"""

from __future__ import annotations

import importlib
import os
import ssl
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from app.db import Database
from app.paths import resources_dir

SAMPLE_FILES = ("sample-mail.eml", "WhatsApp Chat with Zoë Müller.txt", "orders_export.csv")
SAMPLE_EMAIL = "zoe.muller@example.net"
SEARCH_WORD = "periwinkle"
PDF_TEXTS = {
    "accented": "Crème brûlée",
    "Cyrillic": "Привет, бабушка",
    "CJK": "你好，谢谢你的花束",
}
PDF_EMOJI = "🌷"
TLS_HOST = "selftest.threadline.invalid"
PUBLIC_ROOTS = ("ISRG Root X1", "DigiCert Global Root G2", "GlobalSign")


@dataclass
class Outcome:
    """One check's result: passed or not, and what it found in words."""

    ok: bool
    detail: str
    note: bool = False  # passed, but worth the reader's attention


@dataclass
class _Run:
    folder: Path
    db: Database | None = None
    customer_id: int | None = None


def samples_dir() -> Path:
    """The folder holding the bundled self-test samples and TLS chain."""
    return resources_dir() / "selftest"


# --- checks ------------------------------------------------------------------------------


def _check_database(run: _Run) -> Outcome:
    from app.db import head_revision, open_database

    run.db = open_database(run.folder / "selftest.db")
    with run.db.session() as session:
        from app import settings

        settings.set_value(session, "region", "GB")
        settings.set_value(session, "timezone", "Europe/London")
        settings.set_value(session, "owner_emails", "shop@example.com")
        settings.set_value(session, "owner_names", "Self-Test Shop")
    return Outcome(True, f"created through the migrations (schema {head_revision()})")


def _need_db(run: _Run) -> Database:
    if run.db is None:
        raise RuntimeError("skipped: no database")
    return run.db


def _check_import(run: _Run) -> Outcome:
    from app.ingest import import_paths

    db = _need_db(run)
    folder = samples_dir()
    paths = [folder / name for name in SAMPLE_FILES]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        return Outcome(False, f"samples missing from {folder}: {', '.join(missing)}")
    reports = import_paths(db, paths, tz=ZoneInfo("Europe/London"))
    bad = [f"{Path(r.path).name}: {r.error or r.status}" for r in reports if not r.added]
    bad += [f"{Path(r.path).name}: {p.reason}" for r in reports for p in r.problems]
    if bad:
        return Outcome(False, "; ".join(bad))
    with db.session() as session:
        from app import queries

        run.customer_id = queries.resolve_customer(session, SAMPLE_EMAIL)
    formats = ", ".join(f"{r.format} ({r.added} added)" for r in reports)
    return Outcome(True, formats)


def _check_readers(_run: _Run) -> Outcome:
    """Every format's reader loads, with the native library of those that need one (an
    installer that left one out would fail only when a user opened such a file)."""
    import compressed_rtf  # (``connectors.msg`` imports it for a body kept as RTF alone)
    import pypff  # (``connectors.pst`` imports it when it reads a file)

    from connectors import mapi, registry

    readers = registry.all_connectors()
    libpff = pypff.get_version()
    rtf = compressed_rtf.decompress(compressed_rtf.compress(b"{\\rtf1\\ansi RTF {\\b body}}"))
    body = mapi.rtf_text(bytes(rtf))
    if body != "RTF body":
        return Outcome(False, f"an Outlook RTF body reads as {body!r}, not 'RTF body'")
    return Outcome(
        True, f"{len(readers)} formats; Outlook data files: libpff {libpff}; RTF bodies: ok"
    )


def _check_search(run: _Run) -> Outcome:
    from app import queries

    db = _need_db(run)
    with db.session() as session:
        hits = queries.search(session, SEARCH_WORD)
    if not any(h.customer_id == run.customer_id for h in hits):
        return Outcome(False, f"{SEARCH_WORD!r} found {len(hits)} events, none of the sample's")
    return Outcome(True, f"{SEARCH_WORD!r} found {len(hits)} events")


def _check_worker(_run: _Run) -> Outcome:
    from app import parse_worker
    from app.records import EventRecord, ParseOptions

    sample = samples_dir() / SAMPLE_FILES[0]
    options = ParseOptions(tz=ZoneInfo("Europe/London"))
    items = list(parse_worker.items_from_worker("eml", sample, options, parse_worker.Produced()))
    records = [item for item in items if isinstance(item, EventRecord)]
    if not records:
        return Outcome(False, f"the worker process sent no message back ({items!r:.200})")
    return Outcome(True, f"a worker process parsed {sample.name}: {records[0].title!r}")


def _check_suggestions(run: _Run) -> Outcome:
    from app import suggestion_child, suggestion_store

    db = _need_db(run)
    with db.read_session() as session:
        if not suggestion_store.needs_catch_up(session):
            return Outcome(False, "the sample's suggestions were stored before the check")
    done = suggestion_child.catch_up_in_child(db)
    if done.pid == os.getpid() or done.outcome != "rebuilt":
        return Outcome(False, f"the child process answered {done.outcome!r} (pid {done.pid})")
    with db.read_session() as session:
        if suggestion_store.needs_catch_up(session):
            return Outcome(False, "the child process stored nothing")
        count = suggestion_store.stored_count(session, min_score=0.0)
    return Outcome(True, f"a child process built the stored merge suggestions ({count} pairs)")


def _check_window(run: _Run) -> Outcome:
    db = _need_db(run)
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    # The core never imports Qt at module level; the GUI is loaded only for this check.
    gui: Any = importlib.import_module("ui.app")
    workers: Any = importlib.import_module("ui.workers")
    main_window: Any = importlib.import_module("ui.main_window")

    qt_app = gui.application()
    window = main_window.MainWindow(db)
    try:
        window.show()
        qt_app.processEvents()
        workers.manager().wait_for_done()
        qt_app.processEvents()
        shown = window.isVisible()
        title = window.windowTitle()
    finally:
        window.close()
        workers.manager().wait_for_done()
        window.deleteLater()
        qt_app.processEvents()
    if not shown:
        return Outcome(False, "the main window did not show")
    return Outcome(True, f"{title!r} opened offscreen ({qt_app.platformName()}) and closed")


def _check_pdf(run: _Run) -> Outcome:
    import pypdf

    from app.export.pdf import export_customer_pdf

    db = _need_db(run)
    if run.customer_id is None:
        raise RuntimeError("skipped: no imported customer")
    out = run.folder / "selftest.pdf"
    pages = export_customer_pdf(db, run.customer_id, out)
    text = "".join("".join(p.extract_text().split()) for p in pypdf.PdfReader(out).pages)
    lost = [k for k, v in PDF_TEXTS.items() if "".join(v.split()) not in text]
    if lost:
        return Outcome(False, f"{pages} page(s), but the text lost its {', '.join(lost)} part")
    found = f"{pages} page(s); {', '.join(PDF_TEXTS)} text reads back"
    if PDF_EMOJI not in text:
        # Known limit of Qt's PDF writer: a colour emoji font is painted as a picture, and
        # an outline emoji font outside the Basic Multilingual Plane gets no text mapping.
        return Outcome(True, f"{found}; the emoji is drawn but not in the text layer", note=True)
    return Outcome(True, f"{found}, and so does the emoji")


def _is_plain_text_file(backend: object) -> bool:
    cls = type(backend)
    names = {c.__name__ for c in cls.__mro__}
    return cls.__module__.startswith("keyrings.alt.file") and not any(
        "Encrypted" in n for n in names
    )


def _check_keyring(_run: _Run) -> Outcome:
    from app import secrets

    backend = secrets.usable_backend()
    if backend is None:
        reason = secrets.unusable_reason() or "none found"
        return Outcome(
            True, f"no usable keyring ({reason}): passwords are asked for at each sync", note=True
        )
    name = f"{type(backend).__module__}.{type(backend).__qualname__}"
    if _is_plain_text_file(backend):
        return Outcome(False, f"{name} would keep passwords in a plain-text file")
    return Outcome(True, name)


def _handshake(client_ctx: ssl.SSLContext, chain: Path, key: Path) -> None:
    """A TLS handshake between two in-memory endpoints; raises on a verification failure."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(chain, key)
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=TLS_HOST)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = [False, False]
    for _ in range(20):
        for i, end in enumerate((client, server)):
            if not done[i]:
                try:
                    end.do_handshake()
                    done[i] = True
                except ssl.SSLWantReadError:
                    pass
            s_in.write(c_out.read())
            c_in.write(s_out.read())
        if all(done):
            return
    raise ssl.SSLError("the in-memory handshake did not finish")


def _check_tls(_run: _Run) -> Outcome:
    from connectors.imap import bundled_ca_file, ssl_context

    folder = samples_dir()
    chain, key, root = folder / "tls-chain.pem", folder / "tls-key.pem", folder / "tls-root.pem"
    store = ssl_context()
    if store.verify_mode != ssl.CERT_REQUIRED or not store.check_hostname:
        return Outcome(False, "the context does not verify certificates and host names")
    certs: list[dict[str, Any]] = list(store.get_ca_certs())
    names = {
        str(pair[1])
        for cert in certs
        for rdn in cert.get("subject", ())
        for pair in rdn
        if pair[0] in ("commonName", "organizationName")
    }
    missing = [r for r in PUBLIC_ROOTS if r not in names]
    if missing:
        return Outcome(False, f"the trust store lacks the public roots {', '.join(missing)}")
    try:
        _handshake(store, chain, key)
    except ssl.SSLCertVerificationError:
        pass
    else:
        return Outcome(False, "a chain from an untrusted test root was accepted")
    trusting = ssl_context()
    trusting.load_verify_locations(cafile=root)
    try:
        _handshake(trusting, chain, key)
    except ssl.SSLError as exc:
        return Outcome(False, f"the test chain did not verify: {exc}")
    source = "certifi" if bundled_ca_file() else "system only, no certifi"
    return Outcome(
        True,
        f"{len(certs)} CA certificates ({source}) incl. {', '.join(PUBLIC_ROOTS)}; "
        f"offline handshake: a test chain for {TLS_HOST} is refused by this store and verifies "
        "(chain and host name) once its test root is added",
    )


CHECKS: tuple[tuple[str, Callable[[_Run], Outcome]], ...] = (
    ("database", _check_database),
    ("import", _check_import),
    ("readers", _check_readers),
    ("search", _check_search),
    ("worker", _check_worker),
    ("suggestions", _check_suggestions),
    ("window", _check_window),
    ("pdf", _check_pdf),
    ("keyring", _check_keyring),
    ("tls", _check_tls),
)


def run_self_test(out: IO[str] | None = None) -> int:
    """Run every check, printing one line each; 0 when all passed, else 1."""
    stream = out if out is not None else sys.stdout
    failed = 0
    with tempfile.TemporaryDirectory(prefix="threadline-selftest-") as tmp:
        run = _Run(Path(tmp))
        try:
            for name, check in CHECKS:
                try:
                    outcome = check(run)
                except Exception as exc:
                    detail = str(exc) or type(exc).__name__
                    if not detail.startswith("skipped"):
                        detail = f"{type(exc).__name__}: {detail}"
                        if os.environ.get("THREADLINE_DEBUG"):
                            traceback.print_exc()
                    outcome = Outcome(False, detail)
                mark = "ok  " if outcome.ok else "FAIL"
                if outcome.ok and outcome.note:
                    mark = "note"
                failed += not outcome.ok
                print(f"{mark} {name}: {outcome.detail}", file=stream, flush=True)
        finally:
            if run.db is not None:
                run.db.dispose()
    verdict = "all checks passed" if not failed else f"{failed} of {len(CHECKS)} checks failed"
    print(f"self-test: {verdict}", file=stream, flush=True)
    return 0 if not failed else 1
