"""What counts as a blank query: whitespace and invisible format characters (zero-width spaces, BOM, ...).

One definition serves the searcher's check and the OpenAPI schema's pattern for `q`, so that
what the schema calls valid is what the API answers.
"""

from __future__ import annotations

import re
import unicodedata


def _blank_characters() -> str:
    # The Basic Multilingual Plane only, so that the pattern reads the same in every regex dialect.
    return "".join(chr(c) for c in range(0x10000) if chr(c).isspace() or unicodedata.category(chr(c)) == "Cf")


BLANK = _blank_characters()


def _ranges(chars: str) -> str:
    codes = sorted(map(ord, chars))
    parts, start = [], codes[0]
    for previous, code in zip(codes, [*codes[1:], -1], strict=True):
        if code != previous + 1:
            parts.append(f"\\u{start:04x}" if start == previous else f"\\u{start:04x}-\\u{previous:04x}")
            start = code
    return "".join(parts)


# Matches a string with at least one visible character (JSON Schema patterns are searches, not full matches).
NOT_BLANK_PATTERN = f"[^{_ranges(BLANK)}]"
_VISIBLE = re.compile(NOT_BLANK_PATTERN)


def is_blank(text: str) -> bool:
    return _VISIBLE.search(text) is None


def strip_blank(text: str) -> str:
    return text.strip(BLANK)
