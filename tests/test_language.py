"""Language detection: the fast path gives py3langid's own answers, text by text."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from app import language

TEXTS = [
    "Hello Anna, thanks for your order. We will ship the parcel tomorrow morning.",
    "Hallo, wann kommt meine Bestellung? Ich warte schon lange auf das Paket.",
    "Bonjour, je voudrais savoir quand ma commande arrivera chez moi, merci beaucoup.",
    "ご注文ありがとうございます。明日発送いたします。よろしくお願いいたします。",
    "Здравствуйте, когда придёт мой заказ? Я жду уже две недели.",
    "Здраво, када стиже моја поруџбина? Чекам већ две недеље.",  # Serbian: an alias pair
    "Zdravo, kada stiže moja porudžbina? Čekam već dve nedelje.",
    "THANK YOU FOR YOUR ORDER, IT SHIPS TOMORROW MORNING FROM OUR WAREHOUSE",
    "Danke!\n> On Monday you wrote:\n> Your order has shipped and will arrive soon.\nGut so.",
    "On Mon, 2 Mar 2026 at 10:00, Shop <shop@example.com> wrote:\nVielen Dank für Ihre Geduld",
    "see https://example.com/orders/1001 and www.example.com or mail jane@example.com now",
    "🙂🙂🙂 ❤️❤️ 👍👍👍👍 🎉🎉🎉🎉🎉 ✨✨✨ 1234567890 !!!",
    "ok thanks",
    "e\u0301te\u0301 a\u0300 Paris avec les enfants, c'e\u0301tait tre\u0300s bien",  # not NFC
    "Mixed: the parcel ist angekommen, merci beaucoup, gracias, grazie mille amici",
    "x" * 5000 + " the rest of a long line",
]


@pytest.fixture(scope="module")
def reference() -> LanguageIdentifier:
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _expected(reference: LanguageIdentifier, text: str) -> str | None:
    """What detect gave before it was made faster: the plain py3langid path."""
    sample = language._URL.sub(" ", language._QUOTED.sub(" ", text[: language._SAMPLE * 4]))
    sample = sample[: language._SAMPLE]
    if sum(map(str.isalpha, sample)) < language.MIN_LETTERS:
        return None
    code, confidence = reference.classify(sample)
    return None if float(confidence) < language.MIN_CONFIDENCE else str(code)


@pytest.mark.parametrize("text", TEXTS)
def test_detect_gives_py3langids_answer(reference: LanguageIdentifier, text: str) -> None:
    language._recent.clear()
    assert language.detect(text) == _expected(reference, text)
    assert language.detect(text) == _expected(reference, text)  # from the recent samples


def test_classifier_scores_match_py3langid(reference: LanguageIdentifier) -> None:
    classifier = language._model()
    for text in TEXTS:
        found = classifier.classify(text[:300])
        code, confidence = reference.classify(text[:300])
        if found is None:  # no feature at all: py3langid's scores are uniform
            assert float(confidence) < language.MIN_CONFIDENCE
        else:
            assert found == (code, float(confidence))  # the same arithmetic, bit for bit


def test_recent_samples_stay_bounded() -> None:
    language._recent.clear()
    for n in range(language._RECENT * 2 + 10):
        language.detect(f"Order number {n} has shipped to your address this morning, thanks")
    assert len(language._recent) <= language._RECENT + 1


@pytest.fixture()
def fresh_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No model loaded yet in this process, and an empty cache folder of its own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(language, "_identifier", None)
    monkeypatch.setattr(language, "_recent", {})
    yield tmp_path / "cache"


def _scores(reference: LanguageIdentifier) -> list[tuple[str, float] | None]:
    return [language._model().classify(text[:300]) for text in TEXTS]


def test_the_model_tables_are_cached_once_then_mapped_read_only(
    fresh_model: Path, reference: LanguageIdentifier
) -> None:
    first = _scores(reference)
    (folder,) = fresh_model.glob("*/langid-*")
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{key}.npy" for key in language._TABLES
    )
    table = language._model().table
    assert isinstance(table, np.memmap) and table.dtype == np.float32
    assert not table.flags.writeable

    language._identifier = None  # a new process: maps what the first one wrote
    assert _scores(reference) == first
    assert Path(language._model().table.filename) == folder / "table.npy"
    for text in TEXTS:
        found = language._model().classify(text[:300])
        code, confidence = reference.classify(text[:300])
        assert found is None or found == (code, float(confidence))


def test_a_cache_that_cannot_be_written_still_detects(
    fresh_model: Path, reference: LanguageIdentifier, caplog: pytest.LogCaptureFixture
) -> None:
    fresh_model.mkdir()
    (fresh_model / "Threadline").write_text("a file where the folder would go")
    with caplog.at_level(logging.WARNING, logger="app.language"):
        scores = _scores(reference)
    assert "not cached" in caplog.text
    assert not isinstance(language._model().table, np.memmap)
    language._identifier = None
    fresh_model.joinpath("Threadline").unlink()
    assert _scores(reference) == scores  # cached now: the same answers


def test_a_damaged_cache_is_written_again(fresh_model: Path, reference: LanguageIdentifier) -> None:
    first = _scores(reference)
    (folder,) = fresh_model.glob("*/langid-*")
    (folder / "table.npy").write_bytes(b"not an array")
    language._identifier = None
    assert _scores(reference) == first
    assert isinstance(language._model().table, np.memmap)
    assert np.load(folder / "table.npy", allow_pickle=False).shape == first_table_shape(reference)


def first_table_shape(reference: LanguageIdentifier) -> tuple[int, ...]:
    return tuple(reference.nb_ptc.shape)


def test_older_model_folders_are_deleted_when_a_new_one_is_written(
    fresh_model: Path, reference: LanguageIdentifier
) -> None:
    # Each upgrade brings a new model file, hence a new folder of 90 MB: the old ones go.
    import os
    import time

    base = fresh_model / "Threadline"
    old = [base / "langid-1-4586720-1", base / "langid-1-4586720-2.x8f3k2"]  # (and a partial)
    recent = base / "langid-1-4586720-3"  # written just now by another copy of the app
    for folder in (*old, recent):
        folder.mkdir(parents=True)
        (folder / "table.npy").write_bytes(b"old")
    hours_ago = time.time() - 2 * language.STALE_SECONDS
    for folder in old:
        os.utime(folder, (hours_ago, hours_ago))
    _scores(reference)
    assert sorted(p.name for p in base.iterdir()) == sorted(
        [recent.name, language._cache_folder(Path(language_model_file())).name]
    )


def language_model_file() -> str:
    from py3langid.langid import MODEL_DIR, MODEL_FILE

    return str(Path(MODEL_DIR) / MODEL_FILE)
