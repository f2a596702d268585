"""WhatsApp iOS exports: system notices in any language, right-to-left dates, odd encodings.

iOS writes a system notice like a message from the chat's contact (``[ts] Bob: text``) but
starts its text with U+200E LEFT-TO-RIGHT MARK, in every language; media placeholders carry
the same mark and stay the sender's. WhatsApp's own notices (encryption, security code) are
nobody's event. An Arabic iOS export writes U+200F marks inside the date and an Arabic comma
after it, sometimes Arabic-Indic digits and ص/م for AM/PM. Files are built in each test.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from app.db import Database
from app.ingest import import_file
from app.models import Event
from app.records import EventRecord, ParseOptions
from connectors.whatsapp import WhatsAppConnector

LRM, RLM = "\u200e", "\u200f"


def _events(path: Path) -> list[EventRecord]:
    items = WhatsAppConnector().parse(path, ParseOptions(tz=UTC))
    return [i for i in items if isinstance(i, EventRecord)]


def _write(tmp_path: Path, lines: list[str], name: str = "_chat.txt") -> Path:
    folder = tmp_path / "WhatsApp Chat - Bob"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return path


NOTICES = [
    "Messages and calls are end-to-end encrypted. No one outside of this chat, not even "
    "WhatsApp, can read or listen to them.",
    "Nachrichten und Anrufe sind Ende-zu-Ende-verschlüsselt. Niemand außerhalb dieses Chats "
    "kann sie lesen oder anhören.",
    "Votre code de sécurité avec Bob a changé. Appuyez pour en savoir plus.",
    "消息和通话已进行端到端加密。",
    "Tu código de seguridad con Bob cambió. Toca para obtener más información.",
]


def test_ios_marked_notices_in_any_language_are_nobodys_system_lines(tmp_path: Path) -> None:
    lines = [f"[18/03/2022, 14:55:{n:02d}] Bob: {LRM}{text}" for n, text in enumerate(NOTICES)]
    lines += [
        f"[18/03/2022, 14:56:10] Bob: {LRM}<attached: 00000012-PHOTO-2022-03-18-14-56-10.jpg>",
        f"[18/03/2022, 14:56:20] Bob: {LRM}image omitted",
        "[18/03/2022, 14:56:30] Bob: Hello there",
        "[18/03/2022, 14:56:40] Alice: Hi Bob",
    ]
    events = _events(_write(tmp_path, lines))
    assert [e.text for e in events[: len(NOTICES)]] == NOTICES
    for notice in events[: len(NOTICES)]:
        assert notice.direction == "system"
        assert notice.participants == ()  # not an event of the customer
    photo, image, hello, hi = events[len(NOTICES) :]
    for message in (photo, image, hello):
        assert message.direction is None
        assert message.participants[0].role == "author"
        assert message.participants[0].name == "Bob"
    assert photo.details["media"]["kind"] == "photo"
    assert image.details["media"]["kind"] == "photo"
    assert hi.participants[0].name == "Alice"


def test_the_mark_inside_a_message_is_only_dropped(tmp_path: Path) -> None:
    lines = [
        "[18/03/2022, 14:56:30] Bob: Hello there",
        f"Note: {LRM}second line",
        f"[18/03/2022, 14:56:40] Alice: Hi Bob: {LRM}welcome",
    ]
    events = _events(_write(tmp_path, lines))
    assert [e.text for e in events] == ["Hello there\nNote: second line", "Hi Bob: welcome"]
    assert [e.participants[0].name for e in events] == ["Bob", "Alice"]


def test_english_notices_without_the_mark_are_recognised_too(tmp_path: Path) -> None:
    lines = [
        "18/03/2022, 14:55 - Messages and calls are end-to-end encrypted. Tap to learn more.",
        "18/03/2022, 14:56 - Your security code with Bob changed. Tap to learn more.",
        "18/03/2022, 14:57 - Bob: hi",
        "18/03/2022, 14:58 - Alice: hello",
    ]
    events = _events(_write(tmp_path, lines, "WhatsApp Chat with Bob.txt"))
    assert [(e.direction, e.participants) for e in events[:2]] == [("system", ())] * 2
    assert events[2].participants[0].name == "Bob"


# An Android export's first line, in the languages whose chat file names are read.
ANDROID_ENCRYPTION = [
    (
        "WhatsApp-Chat mit Bob",
        "Nachrichten und Anrufe sind Ende-zu-Ende-verschlüsselt. Niemand "
        "außerhalb dieses Chats kann sie lesen oder anhören. Tippe, um mehr zu erfahren.",
    ),
    (
        "Chat de WhatsApp con Bob",
        "Los mensajes y las llamadas están cifrados de extremo a "
        "extremo. Nadie fuera de este chat, ni siquiera WhatsApp, puede leerlos ni escucharlos.",
    ),
    (
        "Discussion WhatsApp avec Bob",
        "Les messages et les appels sont chiffrés de bout en bout. "
        "Aucun tiers, pas même WhatsApp, ne peut les lire ou les écouter.",
    ),
    (
        "Chat WhatsApp con Bob",
        "I messaggi e le chiamate sono crittografati end-to-end. Nessuno "
        "al di fuori di questa chat, nemmeno WhatsApp, può leggerne o ascoltarne il contenuto.",
    ),
    (
        "Conversa do WhatsApp com Bob",
        "As mensagens e as chamadas são protegidas com a "
        "criptografia de ponta a ponta e ficam somente entre você e os participantes.",
    ),
    (
        "WhatsApp-chat met Bob",
        "Berichten en oproepen worden end-to-end versleuteld. Niemand "
        "buiten deze chat, zelfs WhatsApp niet, kan ze lezen of beluisteren.",
    ),
]


@pytest.mark.parametrize(("name", "notice"), ANDROID_ENCRYPTION)
def test_android_encryption_notices_in_other_languages_reach_no_customer(
    tmp_path: Path, name: str, notice: str
) -> None:
    # Android writes its notices without an author and without iOS's mark: read by what
    # they say. Only a line without an author: Bob's own words about encryption stay his.
    lines = [
        f"18/03/2022, 14:55 - {notice}",
        "18/03/2022, 14:56 - Bob: is this chat end-to-end encrypted?",
        "18/03/2022, 14:57 - Alice: it is",
        "18/03/2022, 14:58 - Alice hat Bob hinzugefügt",
    ]
    events = _events(_write(tmp_path, lines, f"{name}.txt"))
    assert [e.text for e in events] == [
        notice,
        "is this chat end-to-end encrypted?",
        "it is",
        "Alice hat Bob hinzugefügt",
    ]
    assert (events[0].direction, events[0].participants) == ("system", ())
    assert events[1].participants[0].name == "Bob"
    assert events[3].direction == "system" and events[3].participants  # the chat's line


@pytest.mark.parametrize(
    ("placeholder", "kind"),
    [
        ("Bild weggelassen", "photo"),
        ("Video weggelassen", "video"),
        ("Kontaktkarte ausgelassen", "contact"),
        ("image omise", "photo"),
        ("vidéo omise", "video"),
        ("audio omis", "audio"),
        ("imagen omitida", "photo"),
        ("sticker omitido", "sticker"),
        ("immagine omessa", "photo"),
        ("imagem oculta", "photo"),
        ("imagem não revelada", "photo"),
    ],
)
def test_ios_media_left_out_in_other_languages_stays_the_senders(
    tmp_path: Path, placeholder: str, kind: str
) -> None:
    # iOS marks a placeholder like a notice: one it does not know in words would become
    # nobody's system line, and the customer's photo would leave their history.
    lines = [
        f"[18/03/2022, 14:56:20] Bob: {LRM}{placeholder}",
        f"[18/03/2022, 14:56:30] Bob: {LRM}Dein Sicherheitscode für Bob hat sich geändert.",
    ]
    photo, notice = _events(_write(tmp_path, lines))
    assert photo.direction is None
    assert photo.participants[0].name == "Bob"
    assert photo.details["media"]["kind"] == kind
    assert notice.direction == "system" and notice.participants == ()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"[{RLM}18{RLM}/3{RLM}/2022، 14:56:01]", datetime(2022, 3, 18, 14, 56, 1, tzinfo=UTC)),
        ("[١٨/٣/٢٠٢٢، ٢:٥٦:٠١ م]", datetime(2022, 3, 18, 14, 56, 1, tzinfo=UTC)),
        ("[١٨/٣/٢٠٢٢، ٩:٠٥:٠٠ ص]", datetime(2022, 3, 18, 9, 5, tzinfo=UTC)),
    ],
)
def test_arabic_ios_dates_are_read(tmp_path: Path, header: str, expected: datetime) -> None:
    lines = [
        f"{header} Bob: {LRM}الرسائل والمكالمات مشفرة تمامًا بين الطرفين.",
        f"{header} Bob: مرحبا، كيف حالك؟",
        f"[{RLM}19{RLM}/3{RLM}/2022، 09:00:00] Alice: بخير",
    ]
    events = _events(_write(tmp_path, lines))
    assert [e.occurred_at for e in events[:2]] == [expected, expected]
    assert events[0].direction == "system" and events[0].participants == ()
    assert events[1].text == "مرحبا، كيف حالك؟"
    assert events[1].participants[0].name == "Bob"
    assert events[2].occurred_at == datetime(2022, 3, 19, 9, 0, tzinfo=UTC)


def test_the_encryption_notice_reaches_no_customer(db: Database, tmp_path: Path) -> None:
    lines = [
        f"[18/03/2022, 14:55:00] Bob: {LRM}Messages and calls are end-to-end encrypted.",
        "[18/03/2022, 14:56:30] Bob: Hello there",
        "[18/03/2022, 14:56:40] Alice: Hi Bob",
    ]
    report = import_file(db, _write(tmp_path, lines), tz=UTC)
    assert report.added == 3
    with db.session() as session:
        events = session.scalars(select(Event).order_by(Event.occurred_at)).all()
        assert events[0].direction == "system" and events[0].participants == []
        assert events[1].participants


def test_a_windows_1252_export_is_decoded_by_its_charset(tmp_path: Path) -> None:
    path = tmp_path / "WhatsApp Chat with Zoë.txt"
    text = "18/03/2022, 14:55 - Zoë: Café crème à côté\n18/03/2022, 14:56 - Alice: Très bien\n"
    path.write_bytes(text.encode("cp1252"))
    events = _events(path)
    assert [e.text for e in events] == ["Café crème à côté", "Très bien"]
    assert events[0].participants[0].name == "Zoë"


def test_a_utf16_export_and_old_mac_line_ends(tmp_path: Path) -> None:
    path = tmp_path / "WhatsApp Chat with Bob.txt"
    text = "18/03/2022, 14:55 - Bob: one\r18/03/2022, 14:56 - Alice: two\r"
    path.write_bytes(text.encode("utf-16"))
    assert [e.text for e in _events(path)] == ["one", "two"]
