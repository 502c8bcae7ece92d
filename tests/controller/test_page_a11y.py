"""pa11y-style checks of the status page without a browser: the stylesheet's palette meets WCAG
AA contrast in the light and the dark scheme, and the rendered pages have a language, one h1,
headings in order, table headers, labelled charts and regions, unique ids and no image without
a text alternative. (The browser test runs axe-core on the live page as well.)"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from reconciler.controller.page import app
from reconciler.controller.report import Decision
from reconciler.plan.changes import Action
from reconciler.plan.diff import Origin

from .page_support import ReportWithFacts, make_page, record, write_log

STYLE = app._static("style.css").decode()

#: (foreground, background, minimum ratio): text 4.5:1, graphics and focus rings 3:1.
PAIRS = [
    ("fg", "bg", 4.5),
    ("fg", "panel", 4.5),
    ("muted", "bg", 4.5),
    ("muted", "panel", 4.5),
    ("link", "bg", 4.5),
    ("link", "panel", 4.5),
    ("head-fg", "head-bg", 4.5),
    ("ok-fg", "ok-bg", 4.5),
    ("info-fg", "info-bg", 4.5),
    ("warn-fg", "warn-bg", 4.5),
    ("bad-fg", "bad-bg", 4.5),
    ("ok-fg", "bg", 4.5),  # results (Succeeded, Partial, Failed) are coloured text
    ("warn-fg", "bg", 4.5),
    ("bad-fg", "bg", 4.5),
    ("focus", "bg", 3.0),
    ("bar-success", "bg", 3.0),
    ("bar-partial", "bg", 3.0),
    ("bar-failed", "bg", 3.0),
    ("bar-other", "bg", 3.0),
]


def palettes() -> dict[str, dict[str, str]]:
    light_block = re.search(r":root\s*\{(.*?)\}", STYLE, re.S)
    dark_block = re.search(r"prefers-color-scheme:\s*dark\)\s*\{\s*:root\s*\{(.*?)\}", STYLE, re.S)
    assert light_block
    assert dark_block
    light = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", light_block.group(1)))
    dark = {**light, **dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", dark_block.group(1)))}
    return {"light": light, "dark": dark}


def luminance(color: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_contrast_formula() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_palette_meets_wcag_aa(scheme: str) -> None:
    colors = palettes()[scheme]
    failing = [
        f"{fg} on {bg}: {contrast(colors[fg], colors[bg]):.2f} < {minimum}"
        for fg, bg, minimum in PAIRS
        if contrast(colors[fg], colors[bg]) < minimum
    ]
    assert failing == []


def test_every_colour_comes_from_the_palette() -> None:
    """Outside the two palettes the stylesheet names no colour of its own."""
    rules = re.sub(r":root\s*\{.*?\}", "", STYLE, flags=re.S)
    assert re.findall(r"#[0-9a-fA-F]{3,8}\b", rules) == []


class Audit(HTMLParser):
    """Collects what the checks below look at."""

    def __init__(self) -> None:
        super().__init__()
        self.lang: str | None = None
        self.headings: list[int] = []
        self.ids: list[str] = []
        self.labelled_by: list[str] = []
        self.tables = 0
        self.header_cells: list[dict[str, str | None]] = []
        self.images_without_alt = 0
        self.unnamed_regions = 0
        self.unlabelled_svgs = 0
        self.links: list[list[str]] = []
        self._in_link = False
        self.landmarks: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        if a.get("id"):
            self.ids.append(a["id"] or "")
        if a.get("aria-labelledby"):
            self.labelled_by += (a["aria-labelledby"] or "").split()
        if tag == "table":
            self.tables += 1
        if tag == "th":
            self.header_cells.append(a)
        if tag == "img" and not a.get("alt"):
            self.images_without_alt += 1
        if a.get("role") == "region" and not (a.get("aria-label") or a.get("aria-labelledby")):
            self.unnamed_regions += 1
        if tag == "svg" and not (a.get("aria-labelledby") or a.get("aria-hidden")):
            self.unlabelled_svgs += 1
        if tag in ("main", "header", "footer", "nav"):
            self.landmarks.add(tag)
        if tag == "a":
            self._in_link = True
            self.links.append([a.get("href") or ""])

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._in_link = False

    def handle_data(self, data: str) -> None:
        if self._in_link and data.strip():
            self.links[-1].append(data.strip())


def check(html: str) -> Audit:
    audit = Audit()
    audit.feed(html)
    assert audit.lang == "en"
    assert audit.headings.count(1) == 1
    assert audit.headings[0] == 1
    for before, after in zip(audit.headings, audit.headings[1:], strict=False):
        assert after <= before + 1, f"heading level skips from h{before} to h{after}"
    assert len(audit.ids) == len(set(audit.ids)), "duplicate ids"
    assert set(audit.labelled_by) <= set(audit.ids), "aria-labelledby names a missing id"
    assert all(cell.get("scope") in ("col", "row") for cell in audit.header_cells)
    assert audit.images_without_alt == 0
    assert audit.unnamed_regions == 0
    assert audit.unlabelled_svgs == 0
    assert {"main", "header", "footer"} <= audit.landmarks
    assert all(len(link) > 1 for link in audit.links), "a link without text"
    return audit


def test_the_pages_are_structured_for_assistive_technology(tmp_path: Path) -> None:
    write_log(tmp_path / "audit.jsonl", [record("Sales", "update", environment="production")])
    report = ReportWithFacts("Sales", Action.UPDATE, Origin.PENDING, Decision.WINDOW)
    page = make_page(tmp_path, (report,))
    overview = check(page.overview_html().decode())
    assert overview.tables >= 2
    detail = page.detail_html("Sales")
    assert detail is not None
    assert "nav" in check(detail.decode()).landmarks
    check(page.not_found_html("Nobody").decode())
