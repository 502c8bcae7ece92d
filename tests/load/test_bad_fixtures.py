"""Every file in tests/fixtures/bad is rejected exactly where its `# expect:` lines say.

Header format: `# expect: LINE:COL SEVERITY RULE: message fragment` (one line per finding).
The file must produce exactly those findings: no more, no fewer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.load.desired import read_desired

from .inputs import ENVIRONMENT, FIXTURES, expectations

BAD = FIXTURES / "bad"
CASES = sorted(BAD.glob("*.yaml"))


def test_the_corpus_has_at_least_thirty_bad_inputs() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("fixture", CASES, ids=[f.stem for f in CASES])
def test_bad_fixture_is_reported_at_the_expected_location(
    fixture: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(BAD)
    result = read_desired(Path(fixture.name), ENVIRONMENT)
    got = sorted(
        (d.location.line, d.location.col, d.severity, d.rule, d.message)
        for d in result.diagnostics
        if d.location is not None
    )
    assert all(d.location is not None for d in result.diagnostics)
    assert all(d.location.path == fixture.name for d in result.diagnostics if d.location)
    expected = sorted(expectations(fixture))
    assert [g[:4] for g in got] == [e[:4] for e in expected], "\n".join(
        f"{fixture.name}:{g[0]}:{g[1]}: {g[2]}: {g[4]} [{g[3]}]" for g in got
    )
    for (_, _, _, _, message), (_, _, _, _, fragment) in zip(got, expected, strict=True):
        assert fragment in message
    has_errors = any(e[2] == "error" for e in expected)
    assert result.ok is not has_errors
    assert (result.connectors == ()) is has_errors


def test_warnings_become_errors_with_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(BAD)
    path = Path("lint-bidirectional-warning.yaml")
    assert read_desired(path, ENVIRONMENT).ok
    strict = read_desired(path, ENVIRONMENT, strict=True)
    assert not strict.ok
    assert [d.rule for d in strict.errors] == ["bidirectional-without-transformation"]
    assert strict.connectors == ()
