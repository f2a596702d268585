"""Words for stored codes: a source's name, a language's name, a greeting line.

Plain functions over plain values (no database, no SQLAlchemy), shared by the waiting
list, the brief and the CLI's lean read path.
"""

from __future__ import annotations

import re

# The programs' own spellings of the sources and platforms Threadline reads (one table: the
# window, the PDF and the CLI name a program alike).
PROGRAM_NAMES = {
    "whatsapp": "WhatsApp",
    "messenger": "Messenger",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "telegram": "Telegram",
    "signal": "Signal",
    "slack": "Slack",
    "zendesk": "Zendesk",
    "line": "LINE",
    "imessage": "iMessage",
    "sms": "SMS",
    "google_voice": "Google Voice",
    "shopify": "Shopify",
    "squarespace": "Squarespace",
    "woocommerce": "WooCommerce",
    "etsy": "Etsy",
    "ebay": "eBay",
    "amazon": "Amazon",
    "stripe": "Stripe",
    "paypal": "PayPal",
    "square": "Square",
}

# How a channel reads ("writes by WhatsApp", "by phone call").
SOURCE_NAMES = {**PROGRAM_NAMES, "email": "email", "calls": "phone call"}

LANGUAGE_NAMES = {
    "ar": "Arabic", "cs": "Czech", "da": "Danish", "de": "German", "el": "Greek",
    "en": "English", "es": "Spanish", "fi": "Finnish", "fr": "French", "he": "Hebrew",
    "hi": "Hindi", "hu": "Hungarian", "it": "Italian", "ja": "Japanese", "ko": "Korean",
    "nl": "Dutch", "no": "Norwegian", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian",
    "ru": "Russian", "sv": "Swedish", "th": "Thai", "tr": "Turkish", "uk": "Ukrainian",
    "vi": "Vietnamese", "zh": "Chinese",
}  # fmt: skip

_SALUTATION = re.compile(r"^[^.?!]{0,40},$")


# What each import's source is called where a record's origin is shown ("via eBay" in a
# PDF, "from Google Voice" in the window).
_SOURCE_TITLES = {
    **PROGRAM_NAMES,
    "email": "email",
    "contacts": "an address book",
    "calls": "the phone's call log",
    "orders_csv": "an orders CSV",
}


def source_name(source: str) -> str:
    """Where a record came from, as people read it ("eBay", "Google Voice", "chat
    (Intercom)"); an unknown source as stored."""
    if source in _SOURCE_TITLES:
        return _SOURCE_TITLES[source]
    if source.startswith("chat_csv:"):
        return source_label("chat", source)
    return source


def source_label(channel: str, source: str) -> str:
    """How a channel reads to the user: "email", "WhatsApp", "chat (Intercom)"."""
    if source in SOURCE_NAMES:
        return SOURCE_NAMES[source]
    if source.startswith("chat_csv:"):
        platform = source.split(":", 1)[1]
        return "chat" if platform in ("", "generic") else f"chat ({platform})"
    return source or channel


def language_name(code: str | None) -> str:
    """An English name for an ISO 639-1 code ("de" → "German"); the code if unknown."""
    if not code:
        return ""
    return LANGUAGE_NAMES.get(code, code)


def is_salutation(line: str) -> bool:
    """A greeting line such as "Hi Sam," (short, ends with a comma, no sentence in it)."""
    return bool(_SALUTATION.match(line.strip()))
