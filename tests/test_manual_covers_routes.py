"""Every route in the route table is documented in help.txt and llms.txt (DESIGN.md section 9).

Path parameters are compared by position only: `/tokens/{token_id}` in the code matches
`/tokens/{id}` in the manual.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.routing import Route

from crmkit.app import create_app
from crmkit.config import Settings

ROOT = Path(__file__).resolve().parents[1]
PARAM = re.compile(r"\{[^}/]*\}")


def normalise(text: str) -> str:
    return re.sub(r"[ \t]+", " ", PARAM.sub("{}", text))


def documented_routes() -> list[str]:
    app = create_app(Settings.from_env({"CRMKIT_DATABASE": ":memory:"}), access_log=False)
    found = []
    for route in app.starlette.routes:
        if not isinstance(route, Route):
            continue
        for method in sorted(route.methods or ()):
            if method in ("HEAD", "OPTIONS"):
                continue
            found.append(f"{method} {normalise(route.path)}")
    assert found, "the route table is empty"
    return found


@pytest.mark.parametrize("document", ["help.txt", "llms.txt"])
def test_every_route_is_in_the_manual(document: str) -> None:
    text = normalise((ROOT / document).read_text(encoding="utf-8"))
    missing = [r for r in documented_routes() if r not in text]
    assert not missing, f"{document} does not mention: {missing}"


def test_the_manual_names_every_indexed_field_and_no_other() -> None:
    from crmkit.spec import SPECS

    text = (ROOT / "crmkit" / "help" / "queries.txt").read_text()  # GET /help/queries
    start = text.index("Speed: these fields have an index:") + len(
        "Speed: these fields have an index:"
    )
    named = set(re.findall(r"[a-z_]+", text[start:].split(".")[0])) - {"a", "deal", "s"}
    indexed = {f.name for rs in SPECS.values() for f in rs.fields if f.indexed}
    assert named == indexed
