"""Customers → Review Suggestions…: suggested pairs side by side, answered from the keyboard.

The queue comes from the stored suggestions (``app.suggestion_store``) on a
reader; what each side shows (name, contact points with their
sources, first and last contact, events, orders, the latest three events) is
read for the shown pair and the next one, also on a reader. Merge (M), Not
the same person (N) and Skip (S) answer the pair and show the next; 1 and 2
choose whose name is kept; Ctrl+Z undoes the last merge made here. Writes go
through ``IdentityFlow``, so the main window refreshes after each one.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

import shiboken6

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QKeySequence, QPalette, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QFrame,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.service import Suggestion
from ui import formatting as fmt
from ui.identity_models import ReviewSide, load_sides, quoted
from ui.marks import channel_color, channel_label, icon, muted_color
from ui.models import summary
from ui.profile import identity_text, kind_label
from ui.safe_text import plain_label, rich_label
from ui.widgets import bold, muted_label, section_heading
from ui.workers import Op

if TYPE_CHECKING:
    from ui.identity_flow import IdentityFlow, Outcome

QUEUE_LIMIT = 500
KEYS_HINT = (
    "M merge · N not the same person · S skip · 1 / 2 choose the name to keep · "
    "Ctrl+Z undo the last merge · Esc close"
)


def side_html(side: ReviewSide, palette: QPalette, tz: tzinfo, now: datetime) -> str:
    """Contact points, figures and the latest events of one side, as rich text."""
    row = side.customer
    muted = muted_color(palette).name()
    small = f"color:{muted}; font-size:small"
    parts: list[str] = [f"<p style='{small}; margin-bottom:2px'>CONTACT POINTS</p>"]
    for ident in row.identities or ():
        kind = kind_label(ident.kind).lower() if ident.kind not in ("email", "phone") else ""
        where = fmt.join_nonempty(
            (kind, f"from {fmt.source_name(ident.source)}" if ident.source else "")
        )
        parts.append(
            f"<div>{html.escape(identity_text(ident))} "
            f"<span style='{small}'>{html.escape(where)}</span></div>"
        )
    if not row.identities:
        parts.append(f"<div style='{small}'>None recorded.</div>")
    o = row.orders
    figures = [
        ("First contact", fmt.when(row.first_seen, now, tz)),
        ("Last contact", fmt.when(row.last_seen, now, tz)),
        ("Events", f"{row.event_count:,}"),
        (
            "Orders",
            fmt.join_nonempty(
                (f"{o.count:,}", f"{fmt.money_totals(o.totals)} spent" if o.totals else "")
            ),
        ),
    ]
    parts.append("<table cellspacing='0' cellpadding='1' style='margin-top:8px'>")
    for label, value in figures:
        parts.append(
            f"<tr><td style='color:{muted}; padding-right:12px'>{label}</td>"
            f"<td>{html.escape(value)}</td></tr>"
        )
    parts.append("</table>")
    parts.append(f"<p style='{small}; margin-top:8px; margin-bottom:2px'>LATEST</p>")
    if not side.latest:
        parts.append(f"<div style='{small}'>No events.</div>")
    for event in side.latest:
        color = channel_color(event.channel, palette).name()
        day = fmt.short_date(fmt.local(event.occurred_at, tz).date(), fmt.local(now, tz).date())
        speaker = "You:" if event.direction == "outbound" else ""
        text = fmt.join_nonempty((speaker, summary(event)), " ")
        parts.append(
            f"<div style='margin-bottom:3px'><span style='color:{color}'>"
            f"{html.escape(channel_label(event.channel))}</span> "
            f"<span style='{small}'>{day}</span> "
            f"{html.escape(text[:140])}</div>"
        )
    return "".join(parts)


class SideCard(QFrame):
    """One customer of the pair: name, "keep this name", and what tells them apart.

    Signals:
        (none of its own; ``keep`` is a radio button in the dialog's group)
    """

    def __init__(self, number: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"reviewSide{number}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        fm = self.fontMetrics()
        m = round(fm.height() * 0.7)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(m, m, m, m)
        layout.setSpacing(round(fm.height() * 0.3))
        self.name = plain_label()
        font = QFont(self.name.font())
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setWeight(QFont.Weight.Bold)
        self.name.setFont(font)
        self.name.setWordWrap(True)
        self.name.setAccessibleName(f"Customer {number} name")
        self.keep = QRadioButton(f"Keep this name ({number})")
        self.keep.setAccessibleName(f"Keep the name of customer {number}")
        self.details = rich_label()
        self.details.setWordWrap(True)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.details.setAccessibleName(f"Customer {number} details")
        layout.addWidget(self.name)
        layout.addWidget(self.keep)
        layout.addWidget(self.details, 1)
        self.side: ReviewSide | None = None

    def show_side(self, side: ReviewSide, tz: tzinfo, now: datetime) -> None:
        """Fill the card with ``side``."""
        self.side = side
        self.name.setText(fmt.customer_name(side.customer))
        self.details.setText(side_html(side, self.palette(), tz, now))


def _likelihood(score: float) -> str:
    """The score in words: it is the chance that the two are one person."""
    if score >= 0.9:
        return "Very likely one person"
    if score >= 0.6:
        return "Likely one person"
    return "Possibly one person"


class MergeReviewDialog(QDialog):
    """The queue of suggested merges, one pair at a time.

    Signals:
        queue_loaded(int): the suggestions were read; how many pairs are queued.
        pair_shown(object): the ``Suggestion`` now shown, or None when the queue is done.
    """

    queue_loaded = Signal(int)
    pair_shown = Signal(object)

    def __init__(self, flow: IdentityFlow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.flow = flow
        self.setWindowTitle("Review suggested merges")
        self.setObjectName("mergeReview")
        self.setAccessibleName("Review suggested merges")
        self.queue: list[Suggestion] = []
        self.index = 0
        self.sides: dict[int, ReviewSide] = {}
        self.merged_here: list[tuple[int, Suggestion]] = []
        self.counts: Counter[str] = Counter()
        self.busy = False
        self.current: Suggestion | None = None
        self._front: Suggestion | None = None
        self._generation = 0
        self._fetching: set[int] = set()
        self._reading_queue = False
        fm = self.fontMetrics()
        em = fm.horizontalAdvance("M")
        layout = QVBoxLayout(self)
        self.stack = QStackedWidget()
        layout.addWidget(self.stack, 1)

        # loading page
        self.loading_page = QWidget()
        lp = QVBoxLayout(self.loading_page)
        lp.addStretch(1)
        self.loading_label = plain_label("Looking for customers who may be the same person…")
        self.loading_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        busy = QProgressBar()
        busy.setRange(0, 0)
        busy.setTextVisible(False)
        busy.setAccessibleName("Working")
        busy.setMaximumWidth(em * 16)
        lp.addWidget(self.loading_label)
        lp.addWidget(busy, 0, Qt.AlignmentFlag.AlignHCenter)
        lp.addStretch(1)
        self.stack.addWidget(self.loading_page)

        # pair page
        self.pair_page = QWidget()
        pp = QVBoxLayout(self.pair_page)
        pp.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        self.position = section_heading("Pair")
        self.position.setObjectName("reviewPosition")
        self.score = muted_label()
        self.score.setObjectName("reviewScore")
        self.score.setAccessibleName("Score")
        top.addWidget(self.position)
        top.addStretch(1)
        top.addWidget(self.score)
        pp.addLayout(top)
        self.reasons = rich_label()
        self.reasons.setObjectName("reviewReasons")
        self.reasons.setAccessibleName("Why they may be the same person")
        self.reasons.setWordWrap(True)
        pp.addWidget(self.reasons)
        cards = QHBoxLayout()
        cards.setSpacing(em)
        self.cards = (SideCard(1), SideCard(2))
        self.keep_group = QButtonGroup(self)
        for i, card in enumerate(self.cards):
            self.keep_group.addButton(card.keep, i)
            cards.addWidget(card, 1)
        pp.addLayout(cards, 1)
        self.outcome = muted_label(small=False)
        self.outcome.setObjectName("reviewOutcome")
        self.outcome.setAccessibleName("What Merge does")
        self.outcome.setWordWrap(True)
        pp.addWidget(self.outcome)
        self.keep_group.idToggled.connect(self._keep_toggled)
        self.stack.addWidget(self.pair_page)

        # done page
        self.done_page = QWidget()
        dp = QVBoxLayout(self.done_page)
        dp.addStretch(1)
        self.done_title = plain_label()
        self.done_title.setObjectName("reviewDoneTitle")
        self.done_title.setFont(bold(self.done_title.font()))
        self.done_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.done_text = muted_label(small=False)
        self.done_text.setWordWrap(True)
        self.done_text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # A QStackedWidget page does not pass on a wrapped label's height-for-width,
        # so the text would be cut to one line: reserve the lines it needs.
        self.done_text.setMinimumWidth(em * 44)
        self.done_text.setMaximumWidth(em * 46)
        self.done_text.setMinimumHeight(fm.lineSpacing() * 3)
        self.again_button = QPushButton("Review &Skipped Pairs Again")
        self.again_button.setObjectName("reviewAgain")
        self.again_button.clicked.connect(self.review_skipped)
        dp.addWidget(self.done_title)
        dp.addWidget(self.done_text, 0, Qt.AlignmentFlag.AlignHCenter)
        dp.addWidget(self.again_button, 0, Qt.AlignmentFlag.AlignHCenter)
        dp.addStretch(1)
        self.stack.addWidget(self.done_page)

        # buttons and keys
        row = QHBoxLayout()
        self.merge_button = QPushButton(icon("merge", self.palette()), "&Merge")
        self.merge_button.setObjectName("reviewMerge")
        self.merge_button.setToolTip("These are one person: merge them (M)")
        self.reject_button = QPushButton("&Not the Same Person")
        self.reject_button.setObjectName("reviewReject")
        self.reject_button.setToolTip("Different people: never suggest this pair again (N)")
        self.skip_button = QPushButton("&Skip")
        self.skip_button.setObjectName("reviewSkip")
        self.skip_button.setToolTip("Decide later (S)")
        self.undo_button = QPushButton(icon("undo", self.palette()), "&Undo Merge")
        self.undo_button.setObjectName("reviewUndo")
        self.undo_button.setToolTip("Undo the last merge made here (Ctrl+Z)")
        self.close_button = QPushButton("Close")
        self.close_button.setAccessibleName("Close the review")
        for button in (self.merge_button, self.reject_button, self.skip_button):
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(self.undo_button)
        row.addWidget(self.close_button)
        layout.addLayout(row)
        self.keys_hint = muted_label(KEYS_HINT)
        self.keys_hint.setWordWrap(True)
        layout.addWidget(self.keys_hint)
        self.merge_button.clicked.connect(self.merge)
        self.reject_button.clicked.connect(self.not_same)
        self.skip_button.clicked.connect(self.skip)
        self.undo_button.clicked.connect(self.undo)
        self.close_button.clicked.connect(self.reject)
        keys: tuple[tuple[str, Callable[[], None]], ...] = (
            ("M", self.merge),
            ("N", self.not_same),
            ("S", self.skip),
            ("1", lambda: self.choose_keep(0)),
            ("2", lambda: self.choose_keep(1)),
            ("Ctrl+Z", self.undo),
        )
        for key, slot in keys:
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.activated.connect(slot)
        self.setMinimumSize(em * 72, fm.lineSpacing() * 30)
        self._update_buttons()
        self.load()

    # --- the queue ---------------------------------------------------------------------

    def load(self) -> None:
        """Read the suggestions again (on a reader) and start from the best pair."""
        self.loading_label.setText("Looking for customers who may be the same person…")
        self.stack.setCurrentWidget(self.loading_page)
        self.current = None
        self._reading_queue = True
        self._update_buttons()
        service, closing = self.flow.service, self.flow.closing()

        def fetch() -> list[Suggestion]:  # (a big catch-up first: in a child process)
            return service.suggestions(limit=QUEUE_LIMIT, apart=True, should_cancel=closing)

        Op(self, fetch).success(self._queue_read).failure(self.flow.unless_closing).run()

    def _queue_read(self, found: list[Suggestion]) -> None:
        self._reading_queue = False
        front = self._front
        self._front = None
        if front is not None:
            key = {front.customer_a, front.customer_b}
            found = [front] + [s for s in found if {s.customer_a, s.customer_b} != key]
        self.queue = list(found)
        self.index = 0
        self.queue_loaded.emit(len(self.queue))
        self._show_current()

    def _show_current(self) -> None:
        if self.index >= len(self.queue):
            self._show_done()
            return
        pair = self.queue[self.index]
        missing = [c for c in (pair.customer_a, pair.customer_b) if c not in self.sides]
        if missing:
            self.current = None
            self.loading_label.setText("Reading both customers…")
            self.stack.setCurrentWidget(self.loading_page)
            self._update_buttons()
            self._fetch(missing)
            return
        self.current = pair
        a, b = self.sides[pair.customer_a], self.sides[pair.customer_b]
        now = self.flow.now()
        for card, side in zip(self.cards, (a, b), strict=True):
            card.show_side(side, self.flow.tz, now)
        keep = 1 if b.customer.event_count > a.customer.event_count else 0
        self.cards[keep].keep.setChecked(True)
        self._describe()
        self.position.setText(f"PAIR {self.index + 1:,} OF {len(self.queue):,}")
        self.score.setText(f"{_likelihood(pair.score)} (score {pair.score:.2f})")
        items = "".join(f"<li>{html.escape(r)}</li>" for r in pair.reasons)
        text = (
            "<b>Why they may be one person</b>"
            f"<ul style='margin-top:2px; margin-bottom:0'>{items}</ul>"
        )
        if pair.against:
            against = "".join(f"<li>{html.escape(r)}</li>" for r in pair.against)
            text += (
                "<b>What speaks against it</b>"
                f"<ul style='margin-top:2px; margin-bottom:0'>{against}</ul>"
            )
        self.reasons.setText(text)
        self.stack.setCurrentWidget(self.pair_page)
        self._update_buttons()
        self.merge_button.setFocus()
        self.pair_shown.emit(pair)
        if self.index + 1 < len(self.queue):
            nxt = self.queue[self.index + 1]
            ahead = [c for c in (nxt.customer_a, nxt.customer_b) if c not in self.sides]
            if ahead:
                self._fetch(ahead)

    def _fetch(self, ids: list[int]) -> None:
        wanted = [i for i in ids if i not in self._fetching]
        if not wanted:
            return
        self._fetching.update(wanted)
        generation, service = self._generation, self.flow.service

        def done(found: dict[int, ReviewSide]) -> None:
            if generation != self._generation:
                return
            self._fetching.difference_update(wanted)
            self.sides.update(found)
            for cid in wanted:  # gone meanwhile: drop its pairs
                if cid not in found:
                    self.queue = [s for s in self.queue if cid not in (s.customer_a, s.customer_b)]
            waiting = self.current is None and self.stack.currentWidget() is self.loading_page
            if waiting and not self._reading_queue:
                self._show_current()

        Op(self, lambda: load_sides(service, wanted)).success(done).run()

    def _forget(self, *ids: int) -> None:
        """Drop what was read of these customers (they changed)."""
        self._generation += 1
        self._fetching.clear()
        for cid in ids:
            self.sides.pop(cid, None)

    def _show_done(self) -> None:
        self.current = None
        self.stack.setCurrentWidget(self.done_page)
        skipped = len(self.queue)
        answered = self.counts["merged"] + self.counts["rejected"]
        if not answered and not skipped:
            self.done_title.setText("No suggested merges right now.")
            self.done_text.setText(
                "Threadline suggests two customers here when their names, postcodes, phone "
                "numbers or email addresses hint that they are one person."
            )
        else:
            self.done_title.setText("That was the last suggestion.")
            self.done_text.setText(
                fmt.join_nonempty(
                    (
                        fmt.plural(self.counts["merged"], "pair") + " merged",
                        fmt.plural(self.counts["rejected"], "pair") + " marked as different",
                        fmt.plural(skipped, "pair") + " skipped" if skipped else "",
                    )
                )
            )
        self.again_button.setVisible(skipped > 0)
        self._update_buttons()
        (self.again_button if skipped else self.close_button).setFocus()
        self.pair_shown.emit(None)

    def _update_buttons(self) -> None:
        showing = self.current is not None and not self.busy
        done = self.stack.currentWidget() is self.done_page
        for button in (self.merge_button, self.reject_button, self.skip_button):
            button.setEnabled(showing)
            button.setVisible(not done)
        self.keys_hint.setVisible(not done)
        self.undo_button.setVisible(not done or bool(self.merged_here))
        self.undo_button.setEnabled(bool(self.merged_here) and not self.busy)

    # --- answers -----------------------------------------------------------------------

    def choose_keep(self, side: int) -> None:
        """Keep the name of side 0 (left) or 1 (right)."""
        if self.current is not None:
            self.cards[side].keep.setChecked(True)

    def kept(self) -> tuple[ReviewSide, ReviewSide]:
        """(the side whose name is kept, the other side) of the shown pair."""
        keep = max(0, self.keep_group.checkedId())
        kept, other = self.cards[keep].side, self.cards[1 - keep].side
        assert kept is not None and other is not None
        return kept, other

    def _start(self) -> Suggestion | None:
        if self.busy or self.current is None:
            return None
        self.busy = True
        self._update_buttons()
        return self.current

    def _end(self) -> None:
        self.busy = False
        self._update_buttons()
        if self.current is not None:
            self.merge_button.setFocus()

    def merge(self) -> None:
        """M: the two are one person; merge the other side into the kept one."""
        pair = self._start()
        if pair is None:
            return
        keep, other = self.kept()
        reason = "suggested: " + "; ".join(pair.reasons)

        def merged(outcome: Outcome) -> None:
            self.counts["merged"] += 1
            if outcome.change_ids:
                self.merged_here.append((outcome.change_ids[-1], pair))
            self._drop_current()
            self._remap(other.customer.id, keep.customer.id)
            self._forget(keep.customer.id, other.customer.id, pair.customer_a, pair.customer_b)
            self._show_current()

        self.flow.merge(
            keep.customer, [other.customer], reason=reason, done=self._guard(merged)
        ).finished(self._guard(self._end))

    def not_same(self) -> None:
        """N: different people; the pair is never suggested again."""
        pair = self._start()
        if pair is None:
            return
        a, b = (card.side for card in self.cards)
        assert a is not None and b is not None

        def rejected(_outcome: Outcome) -> None:
            self.counts["rejected"] += 1
            self._drop_current()
            self._show_current()

        self.flow.reject(a.customer, b.customer, done=self._guard(rejected)).finished(
            self._guard(self._end)
        )

    def skip(self) -> None:
        """S: decide later; the pair stays in the queue for another round."""
        if self.busy or self.current is None:
            return
        self.counts["skipped"] += 1
        self.index += 1
        self._show_current()

    def review_skipped(self) -> None:
        """Go through the skipped pairs again."""
        self.index = 0
        self._show_current()

    def undo(self) -> None:
        """Ctrl+Z: undo the last merge made in this review and show that pair again."""
        if self.busy or not self.merged_here:
            return
        change_id, pair = self.merged_here.pop()
        self.busy = True
        self._update_buttons()

        def undone(_outcome: Outcome) -> None:
            self.counts["merged"] -= 1
            self._forget(pair.customer_a, pair.customer_b)
            self._front = pair
            self.load()

        def failed() -> None:
            self._end()

        self.flow.undo(change_id, done=self._guard(undone)).finished(self._guard(failed))

    def _guard(self, fn: Callable[..., None]) -> Callable[..., None]:
        """``fn``, skipped if this dialog was closed and deleted while a write ran."""

        def call(*args: Any) -> None:
            if shiboken6.isValid(self):
                fn(*args)

        return call

    def _drop_current(self) -> None:
        if self.index < len(self.queue):
            del self.queue[self.index]

    def _remap(self, gone: int, survivor: int) -> None:
        """After a merge, pairs that named the merged customer now name the survivor."""
        seen: set[frozenset[int]] = set()
        out: list[Suggestion] = []
        for i, s in enumerate(self.queue):
            a = survivor if s.customer_a == gone else s.customer_a
            b = survivor if s.customer_b == gone else s.customer_b
            key = frozenset((a, b))
            if a == b or key in seen:
                if i < self.index:
                    self.index -= 1
                continue
            seen.add(key)
            if (a, b) != (s.customer_a, s.customer_b):
                s = replace(s, customer_a=min(a, b), customer_b=max(a, b))
            out.append(s)
        self.queue = out

    def describe(self) -> str:
        """What Merge would do with the shown pair, in words."""
        if self.current is None:
            return ""
        keep, other = self.kept()
        return f"Merge {quoted(other.customer.name)} into {quoted(keep.customer.name)}"

    def _keep_toggled(self, _side: int, checked: bool) -> None:
        if checked:
            self._describe()

    def _describe(self) -> None:
        if self.current is None or self.keep_group.checkedId() < 0:
            return
        keep, other = self.kept()
        kept, gone = quoted(keep.customer.name), quoted(other.customer.name)
        if keep.customer.name == other.customer.name:
            side = "left" if self.keep_group.checkedId() == 0 else "right"
            other_side = "right" if side == "left" else "left"
            gone = f"the {other_side} one"
            kept = f"the {side} {kept}"
        self.outcome.setText(
            f"Merge keeps {kept} and moves the contact points, events and notes of {gone} "
            "to it. Nothing is deleted; Ctrl+Z undoes it."
        )
