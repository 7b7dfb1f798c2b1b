"""Names people give things (workspaces, tokens, OAuth clients).

They are shown on the sign-in page, in mail subjects and in reply lines, so they must hold no
control characters and no format characters: a bidi override (U+202E) or a zero-width space
can make one name look like another ("gnp.exe" shown for "exe.png").
"""

from __future__ import annotations

import unicodedata

_REFUSED = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def is_clean(name: str) -> bool:
    """No character of a refused category (control, format, line or paragraph separator,
    surrogate)."""
    return name.isprintable() or not any(unicodedata.category(c) in _REFUSED for c in name)
