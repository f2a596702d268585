"""Credential redaction: one function that every server message passes before it is kept or shown.

A mail server may echo the command it rejects (``NO LOGIN jane "hunter2"
failed``), and a future OAuth provider may echo a token. ``redact`` removes
two kinds of secret from any text:

- the *known* secrets of the connections in progress: ``known(password)``
  registers a password (or token) for the duration of a ``with`` block, and
  ``redact`` then removes it in the forms it travels in: as typed, quoted and
  escaped as IMAP sends it, as Python and JSON escape it, URL-encoded, and
  base64-encoded at any byte offset (as inside ``AUTHENTICATE PLAIN`` or
  ``XOAUTH2``);
- *credential shapes*, whatever the secret: ``LOGIN user pass``,
  ``AUTHENTICATE MECH <base64>``, ``Bearer <token>``, ``password=…``,
  ``access_token=…`` and XOAUTH2 / OAUTHBEARER base64 blobs.

Redaction is applied where server text enters Threadline (the IMAP
connector's errors), again where it is stored (``account.last_error``), and
where it leaves (the log filter, the CLI's stderr, the GUI's messages): each
layer is cheap and none trusts the one before. The registry holds secrets only
while their connection is being used, never on disk.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

MASK = "***"

# Secrets shorter than this are removed only as whole tokens: replacing a 2-letter
# password everywhere would garble the message without protecting anything more.
_SUBSTRING_MIN = 4
# Base64 fragments shorter than this could occur by chance in ordinary text.
_B64_MIN = 8

_lock = threading.Lock()
_active: Counter[str] = Counter()
_kept: set[str] = set()  # registered by ``keep``: for the life of the process

_QUOTED = r'"(?:[^"\\]|\\.)*(?:"|$)'  # an IMAP quoted string (to the end if cut short)
_TOKEN = rf"(?:{_QUOTED}|'[^']*(?:'|$)|\{{\d+\+?\}}|[^\s()\]]+)"
# Words that follow "login" or "authenticate" in prose ("login failed for …", Yahoo's
# "LOGIN Invalid credentials"), not a user name or a mechanism.
_PROSE = (
    r"(?:command|failed|failure|error|errors|rejected|denied|disabled|not|is|was|were|"
    r"for|to|with|via|using|as|at|on|attempt|attempts|required|refused|incorrect|invalid|"
    r"bad|unsuccessful|authentication|credentials|please|temporarily|name|names)\b"
)
# Words that follow "password:" in Threadline's own sentences ("needs its password: no
# usable keyring", "password: in the keyring"), not a secret.
_STATE = (
    r"(?:no|not|none|in|is|was|the|a|an|asked|stored|kept|required|missing|empty|unset|"
    r"incorrect|invalid|wrong|expired|revoked|changed|needed|see|use)\b"
)
_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    # LOGIN user password (the IMAP command, echoed by a server)
    (re.compile(rf"(?i)(\bLOGIN\s+(?!{_PROSE}){_TOKEN}\s+){_TOKEN}"), rf"\1{MASK}"),
    # AUTHENTICATE MECH <initial response>
    (re.compile(rf"(?i)(\bAUTHENTICATE\s+(?!{_PROSE})[\w-]+\s+)(?!{_PROSE})\S+"), rf"\1{MASK}"),
    # Bearer tokens (HTTP and the decoded XOAUTH2 string)
    (re.compile(r"(?i)(\bBearer\s+)[\w.~+/-]+=*"), rf"\1{MASK}"),
    # password=…, access_token: …, client_secret="…", api-key=…
    (
        re.compile(
            r"(?i)\b([\w-]*(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key)|pass)"
            rf"""(\s*[=:]\s*)(?!{_STATE})("(?:[^"\\]|\\.)*"?|'[^']*'?|[^\s&;,'"]+)"""
        ),
        rf"\1\2{MASK}",
    ),
    # XOAUTH2 ("user=…\x01auth=Bearer …") and OAUTHBEARER ("n,a=…" / "n,,…") in base64
    (re.compile(r"\b(?:dXNlcj[0-3]|bixhP|biws)[A-Za-z0-9+/]{8,}={0,2}"), MASK),
)


def _base64_fragments(secret: bytes) -> set[str]:
    """The base64 text that ``secret`` always encodes to, at each of the three byte offsets."""
    found: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + secret).decode("ascii")
        first = -(-offset // 3)  # the first 3-byte group made of the secret's bytes only
        last = (offset + len(secret)) // 3  # one past the last such group
        fragment = encoded[4 * first : 4 * last]
        if len(fragment) >= _B64_MIN:
            found.add(fragment)
    return found


def _forms(secret: str) -> set[str]:
    """Every spelling of ``secret`` that may appear in a message or a log line."""
    raw = secret.encode("utf-8", "surrogatepass")
    forms = {
        secret,
        secret.replace("\\", "\\\\").replace('"', '\\"'),  # an IMAP quoted string
        repr(secret)[1:-1],
        repr(raw)[2:-1],  # inside b'...' as imaplib's exceptions show it
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        raw.decode("latin-1"),  # UTF-8 bytes read as Latin-1
    }
    forms |= _base64_fragments(raw)
    return {f for f in forms if f}


def _known_pattern() -> re.Pattern[str] | None:
    with _lock:
        secrets = list(_active)
    if not secrets:
        return None
    long_forms: set[str] = set()
    short: set[str] = set()
    for secret in secrets:
        if len(secret) >= _SUBSTRING_MIN:
            long_forms |= _forms(secret)
        else:
            short.add(secret)
    parts = [re.escape(f) for f in sorted(long_forms, key=len, reverse=True)]
    parts += [rf"(?<![\w]){re.escape(s)}(?![\w])" for s in sorted(short, key=len, reverse=True)]
    return re.compile("|".join(parts))


@contextmanager
def known(*secrets: str | None) -> Iterator[None]:
    """Register secrets (a password, a token) to be removed from every message while inside.

    Nesting and threads are fine: a secret stays registered until its last
    ``with`` block ends.

    Args:
        secrets: the secrets; empty strings and None are ignored.
    """
    wanted = [s for s in secrets if s]
    with _lock:
        _active.update(wanted)
    try:
        yield
    finally:
        with _lock:
            _active.subtract(wanted)
            for secret in wanted:
                if _active[secret] <= 0:
                    del _active[secret]


def keep(*secrets: str | None) -> None:
    """Register secrets for the rest of the process (a team server's password, used by
    every connection the process makes); empty strings and None are ignored."""
    wanted = [s for s in secrets if s]
    with _lock:
        for secret in wanted:
            if secret not in _kept:
                _kept.add(secret)
                _active[secret] += 1


def redact(text: str, *secrets: str | None) -> str:
    """``text`` without credentials: the known secrets, those given, and credential shapes.

    Args:
        text: a server message, an error, a log line.
        secrets: more secrets to remove besides those registered with ``known``.

    Returns:
        The text with each secret replaced by ``***``.
    """
    if not text:
        return text
    if any(secrets):
        with known(*secrets):
            pattern = _known_pattern()
    else:
        pattern = _known_pattern()
    if pattern is not None:
        text = pattern.sub(MASK, text)
    for shape, replacement in _SHAPES:
        text = shape.sub(replacement, text)
    return text
