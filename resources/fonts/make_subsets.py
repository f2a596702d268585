"""Rebuild the bundled font subsets from the full Noto fonts (a maintainer's tool).

The PDF export and the window use these as fallbacks, so every script prints on a machine
that has none of them installed. Run on Debian with ``fonts-noto-core``, ``fonts-noto-cjk``
and ``fonts-noto-color-emoji`` installed and ``fonttools`` in the environment::

    python resources/fonts/make_subsets.py

CJK keeps the characters of GB 2312, JIS X 0208 and KS X 1001 (simplified Chinese,
Japanese and Korean in everyday use, including all 2,350 common Hangul syllables) plus
kana, Hangul jamo and CJK punctuation; the other fonts are copied whole or cut to the
scripts they are here for. All are under the SIL Open Font License 1.1 (``OFL.txt``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection

HERE = Path(__file__).resolve().parent
NOTO = Path("/usr/share/fonts/truetype/noto")
CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
WHOLE = [
    "NotoSans-Regular.ttf",
    "NotoSans-Bold.ttf",
    "NotoSansArabic-Regular.ttf",
    "NotoSansHebrew-Regular.ttf",
    "NotoSansThai-Regular.ttf",
    "NotoColorEmoji.ttf",  # whole: a subset would lose skin tones and ZWJ sequences
]


def _cjk_codepoints() -> set[int]:
    points: set[int] = set()
    ranges = [
        (0x3000, 0x303F),  # CJK symbols and punctuation
        (0x3040, 0x30FF),  # hiragana, katakana
        (0x31F0, 0x31FF),  # katakana phonetic extensions
        (0x1100, 0x11FF),  # Hangul jamo
        (0x3130, 0x318F),  # Hangul compatibility jamo
        (0xFF00, 0xFFEF),  # half- and full-width forms
    ]
    for first, last in ranges:
        points.update(range(first, last + 1))
    for cp in list(range(0x4E00, 0xA000)) + list(range(0xAC00, 0xD7A4)):
        char = chr(cp)
        for codec in ("gb2312", "shift_jis", "euc_kr"):
            try:
                char.encode(codec)
            except UnicodeEncodeError:
                continue
            points.add(cp)
            break
    return points


def _subset(font: object, out: Path, unicodes: set[int] | None) -> None:
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.name_legacy = True
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.glyph_names = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=unicodes or [])
    subsetter.subset(font)
    font.save(str(out))  # type: ignore[attr-defined]


def main() -> None:
    for name in WHOLE:
        shutil.copyfile(NOTO / name, HERE / name)
    sc = TTCollection(str(CJK)).fonts[2]  # Noto Sans CJK SC
    _subset(sc, HERE / "NotoSansCJKsc-Regular-subset.otf", _cjk_codepoints())


if __name__ == "__main__":
    main()
