"""Names people give things (workspaces, tokens, OAuth clients).

They are shown on the sign-in page, in mail subjects and in reply lines, so they must hold no
control characters and no format characters: a bidi override (U+202E) or a zero-width space
can make one name look like another ("gnp.exe" shown for "exe.png").
"""

from __future__ import annotations

import unicodedata

_REFUSED = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
# Letters and symbols that draw nothing (Hangul fillers, the braille blank); combining marks
# (M*) draw only on another character.
_BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Marks Unicode says to ignore when drawing (a name with one looks like the name without):
# the combining grapheme joiner, Khmer inherent vowels, Mongolian variation selectors.
_IGNORED = frozenset("\u034f\u17b4\u17b5\u180b\u180c\u180d")


def is_clean(name: str) -> bool:
    """No character of a refused category (control, format, line or paragraph separator,
    surrogate, private use, unassigned) or that is drawn as nothing, and one that shows."""
    if not name.isprintable() and any(unicodedata.category(c) in _REFUSED for c in name):
        return False
    if any(c in _IGNORED for c in name):
        return False
    return any(c not in _BLANK and unicodedata.category(c)[0] in "LNPS" for c in name)
