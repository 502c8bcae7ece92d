"""File and variable names a dump hands out for names made in the CXone UI: safe on every file
system (ASCII, bounded, no Windows device names) and stable from one dump to the next."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.gitops.dump_names import FILE_STEM_MAX, Names, slug

NAMES = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=200)


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("Salesforce-Prod_EU", "salesforce-prod-eu"),
        ("Straße-Øst", "strasse-ost"),
        ("Café Ünïcødé", "cafe-unicode"),
    ],
)
def test_latin_names_read_as_they_are_written(name: str, stem: str) -> None:
    assert slug(name) == stem


def test_letters_without_an_ascii_spelling_get_a_hash_of_the_whole_name() -> None:
    unicode_name = "Kundendaten-Ünïcødé-日本"
    assert slug(unicode_name).startswith("kundendaten-unicode-")
    assert slug(unicode_name) != slug("Kundendaten-Ünïcødé-中国")
    assert slug(unicode_name) != slug("Kundendaten-Unicode")
    assert slug("日本").startswith("connector-")


def test_windows_device_names_and_long_names_are_never_file_names() -> None:
    assert slug("CON") != "con"
    assert slug("lpt1") != "lpt1"
    long = slug("x" * 200)
    assert len(long) <= FILE_STEM_MAX + 7
    assert long != slug("x" * 199)


@settings(derandomize=True, database=None, max_examples=300, deadline=None)
@given(NAMES)
def test_any_name_gets_a_safe_stable_file_name(name: str) -> None:
    file_name = Names().file(name)
    assert file_name.isascii()
    assert file_name.endswith(".yaml")
    stem = file_name.removesuffix(".yaml")
    assert stem
    assert stem[0] != "-"
    assert stem[-1] != "-"
    assert all(c.islower() or c.isdigit() or c == "-" for c in stem)
    assert len(file_name.encode()) <= 100
    assert stem not in ("con", "prn", "aux", "nul", "com1", "lpt1")
    # Stable: the same name (in either Unicode normal form) always gets the same file.
    nfd, nfc = unicodedata.normalize("NFD", name), unicodedata.normalize("NFC", name)
    assert Names().file(nfd) == Names().file(nfc) == file_name


@settings(derandomize=True, database=None, max_examples=100, deadline=None)
@given(st.lists(NAMES, min_size=2, max_size=8, unique=True))
def test_names_in_one_dump_never_share_a_file(names: list[str]) -> None:
    handed = Names()
    files = [handed.file(name) for name in sorted(names)]
    assert len({f.lower() for f in files}) == len(files)  # case-insensitive file systems too


def test_variable_names_spell_unicode_names_in_ascii() -> None:
    names = Names()
    assert names.variable("Kundendaten-Ünïcødé-日本", "apiKey", "id-1") == (
        "KUNDENDATEN_UNICODE_API_KEY"
    )
    assert names.variable("日本", "apiKey", "id-2") == "CONNECTOR_API_KEY"
