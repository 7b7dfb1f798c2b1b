"""The manual as served: help.txt (GET /help), llms.txt (GET /llms.txt) and the topic pages
(GET /help/<topic>), each a plain-text file.

help.txt and llms.txt sit at the top of the source checkout (crmkit/static/ links to them, and
the installed package carries copies there). The topic pages are crmkit/help/<topic>.txt:
package data, so the checkout, an installed copy and the Docker image all read them from the
package itself. A topic is a page's file name without .txt; adding a file adds the topic.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

TOPICS_DIR = "help"


@cache
def document(name: str) -> str:
    """help.txt / llms.txt: from the source checkout when run from it, else the installed copy."""
    checkout = Path(__file__).resolve().parents[1] / name
    if checkout.is_file():
        return checkout.read_text(encoding="utf-8")
    return resources.files("crmkit").joinpath("static", name).read_text(encoding="utf-8")


@cache
def topics() -> tuple[str, ...]:
    """Every topic page's name, sorted."""
    folder = resources.files("crmkit").joinpath(TOPICS_DIR)
    return tuple(
        sorted(f.name.removesuffix(".txt") for f in folder.iterdir() if f.name.endswith(".txt"))
    )


@cache
def topic_page(topic: str) -> str:
    """One topic's page; `topic` must be one of topics() (never a name from a request as is)."""
    if topic not in topics():
        raise KeyError(topic)
    path = resources.files("crmkit").joinpath(TOPICS_DIR, topic + ".txt")
    return path.read_text(encoding="utf-8")
