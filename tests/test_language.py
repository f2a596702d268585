"""Language detection: the fast path gives py3langid's own answers, text by text."""

from __future__ import annotations

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
