"""Every relative link of README.md, docs/*.md and benchmarks/README.md leads somewhere: the
file exists, and an anchor names a heading of it (as GitHub spells heading anchors)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

import pytest

from .documents import DOCUMENTS, REPO

PAGES: Final = [*DOCUMENTS, REPO / "benchmarks" / "README.md"]
LINK: Final = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's anchor of each heading: lower case, punctuation dropped, spaces as '-'."""
    found = set()
    for heading in re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), re.M):
        found.add(re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-"))
    return found


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_every_relative_link_resolves(page: Path) -> None:
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists() or (
            anchor and linked.suffix == ".md" and anchor not in anchors(linked)
        ):
            broken.append(target)
    assert broken == [], f"{page.relative_to(REPO)}: links that lead nowhere"
