"""Parsing in a worker process, so an import uses two cores: one parses, one writes.

``items_from_worker`` starts a process (``spawn``: safe beside Qt's threads) that
runs a connector over a source, detects each message's language while the
writer is the slower of the two (py3langid is the slowest step after parsing;
otherwise the writer detects it) and sends the items back in chunks through a
bounded queue, so memory stays flat whatever the source's size. The importing
process stays the one writer: it takes the items as if the connector ran in
place, so problems, notices, owner hints, progress and the write path's rules
are the same. One process, not a pool: a connector's state across messages
(subject threading, owner hints already given) stays in one place and the
order of the items is the file's.

In the worker each email message has a time budget (``MESSAGE_SECONDS`` of CPU): one
that takes longer to parse becomes a problem with its location, and the rest
goes on. Cancelling stops the worker at once; a crash in the worker (our bug)
comes back as the same exception, with the worker's traceback in the log.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import queue
import signal
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.errors import Cancelled
from app.records import EventRecord, Item, ParseOptions

log = logging.getLogger(__name__)

CHUNK = 200  # items per message between the processes
QUEUE_CHUNKS = 24  # chunks in flight at most: the bound on memory held between them
# The worker detects languages only while this many chunks wait for the writer: the writer
# is clearly the slower then. Below it the writer detects them (its wait for the next chunk
# is idle time anyway), and the worker never loads the language model at all.
HELP_FROM = QUEUE_CHUNKS // 2
MESSAGE_SECONDS = 2.0  # CPU seconds one email message may take to parse, no more
# Below this size a worker's start (about half a second) costs more than it saves.
MIN_BYTES = 8_000_000
MIN_FILES = 2_000
_NOT_DETECTED = "?"  # a record whose language the worker left to the writer


@dataclass
class Produced:
    """What a producer of items tells the writer besides the items themselves."""

    # id(record) → (record, language) for records whose language was detected already
    languages: dict[int, tuple[EventRecord, str | None]] = field(default_factory=dict)
    known: int = 0  # sources skipped unread because they were stored before
    # True while the item just yielded is the last one ready: the producer is still at
    # work on the next ones, so the writer had better write what it holds than wait.
    idle: bool = False

    def count_known(self, count: int) -> None:
        self.known += count

    def take_known(self) -> int:
        """The known sources skipped since the last call."""
        count, self.known = self.known, 0
        return count


def worth_a_worker(path: Path, known: int = 0) -> bool:
    """Whether ``path`` is big enough to parse in a worker process (a big file, or a
    folder tree of many files; counted without reading a single file).

    Args:
        path: the source.
        known: how many of a folder's files were stored before (skipped unread, so
            only the others count).
    """
    # A frozen bundle spawns its own executable, which ``multiprocessing.freeze_support``
    # at the bundle's entry (build_installer.py) turns into the worker.
    if os.environ.get("THREADLINE_PARSE_WORKER") == "0":
        return False  # switched off
    try:
        if path.is_file():
            return path.stat().st_size >= MIN_BYTES
        seen = 0
        for _root, _dirs, files in os.walk(path):
            seen += len(files)
            if seen >= MIN_FILES + known:
                return True
    except OSError:
        return False
    return False


def items_from_worker(
    connector_name: str,
    path: Path,
    options: ParseOptions,
    produced: Produced,
) -> Iterator[Item]:
    """The connector's items, parsed in a worker process.

    Args:
        connector_name: the registry name of the connector.
        path: the source.
        options: as for ``Connector.parse``; ``progress`` is called here with the
            worker's byte counts, ``should_cancel`` is polled here and stops the worker.
        produced: its languages are filled with each record yielded; the known sources
            the worker skipped are passed on to ``options.on_known``.

    Raises:
        whatever the connector raised in the worker (same type where it can be sent).
    """
    context = multiprocessing.get_context("spawn")
    channel: multiprocessing.Queue[Any] = context.Queue(QUEUE_CHUNKS)
    sendable = replace(options, progress=None, should_cancel=None, on_known=None)
    process = context.Process(
        target=_work, args=(connector_name, str(path), sendable, channel), daemon=True
    )
    process.start()
    finished = False
    try:
        from app import language
        from connectors import registry

        if registry.get(connector_name).channel in ("email", "chat"):
            language.load()  # this process detects languages too: loaded while the worker starts
        while True:
            if options.should_cancel is not None and options.should_cancel():
                raise Cancelled
            try:
                message = channel.get(timeout=0.2)
            except queue.Empty:
                if not process.is_alive() and channel.empty():
                    raise RuntimeError(
                        f"the parse worker stopped unexpectedly (exit code {process.exitcode})"
                    ) from None
                continue
            kind = message[0]
            if kind == "items":
                _kind, chunk, done, total, known = message
                if options.progress is not None and total:
                    options.progress(done, total)
                if known and options.on_known is not None:
                    options.on_known(known)
                last = len(chunk) - 1
                for n, (item, lang) in enumerate(chunk):
                    if isinstance(item, EventRecord) and lang is not _NOT_DETECTED:
                        produced.languages[id(item)] = (item, lang)
                    if n == last:
                        produced.idle = channel.empty()
                    yield item
                produced.idle = False
            elif kind == "error":
                _kind, error, text = message
                log.error("the parse worker failed:\n%s", text)
                finished = True
                raise error
            else:
                finished = True
                return
    finally:
        if not finished or process.is_alive():
            process.terminate()
        process.join(5)
        channel.close()
        channel.cancel_join_thread()


def _work(connector_name: str, path: str, options: ParseOptions, channel: Any) -> None:
    """The worker: parse, detect languages, send chunks; then "done" or the error."""
    from app import language
    from connectors import mail, registry

    logging.basicConfig(level=logging.WARNING)
    state = [0, 0, 0]  # bytes done, bytes in all, known sources skipped since the last chunk

    def on_bytes(done: int, total: int) -> None:
        state[0], state[1] = done, total

    def on_known(count: int) -> None:
        state[2] += count

    def send(chunk: list[tuple[Item, str | None]]) -> None:
        channel.put(("items", chunk, state[0], state[1], state[2]))
        state[2] = 0

    if hasattr(signal, "setitimer"):
        signal.signal(signal.SIGPROF, _too_slow)
        mail.time_budget = MESSAGE_SECONDS
    chunk: list[tuple[Item, str | None]] = []  # (item, its language or _NOT_DETECTED)
    try:
        connector = registry.get(connector_name)
        worker_options = replace(options, progress=on_bytes, on_known=on_known)
        for item in connector.parse(Path(path), worker_options):
            lang: str | None = _NOT_DETECTED
            # The worker detects languages while the writer is the slower of the two (chunks
            # wait in the queue); when the writer waits for chunks, it detects them itself.
            if isinstance(item, EventRecord) and _queued(channel) >= HELP_FROM:
                lang = language.for_event(
                    item.channel, item.direction or "inbound", item.title, item.text
                )
            chunk.append((item, lang))
            if len(chunk) >= CHUNK:
                send(chunk)
                chunk = []
        send(chunk)
        channel.put(("done",))
    except BaseException as exc:  # sent back whole: the importing process decides
        send(chunk)
        channel.put(("error", _sendable(exc), traceback.format_exc()))
    channel.close()
    channel.join_thread()


def _queued(channel: Any) -> int:
    """Chunks waiting in the queue (as many as it holds where the system cannot say)."""
    try:
        return int(channel.qsize())
    except NotImplementedError:  # macOS: no sem_getvalue
        return QUEUE_CHUNKS


def _sendable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a RuntimeError that says what it was."""
    with contextlib.suppress(Exception):
        pickle.loads(pickle.dumps(exc))
        return exc
    return RuntimeError(f"{type(exc).__name__}: {exc}")


def _too_slow(_signum: int, _frame: object) -> None:
    from connectors.mail import MessageTooSlowError

    raise MessageTooSlowError(f"took longer than {MESSAGE_SECONDS:g} s to read; skipped")
