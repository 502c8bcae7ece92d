"""The status page in a real browser: headless Chromium (Debian's `chromium` and
`chromium-driver`, driven by Selenium) against a controller serving `--listen 127.0.0.1:0` and
reconciling against the emulator.

It loads with no console error, lists the connectors, shows a connector edited in CXone as
drift one cycle later, opens a connector's page, renders a connector named
`<script>alert(1)</script>` as text, has no serious or critical accessibility violation (axe-core,
vendored under vendor/axe-core), fits a phone's width, and can be used from the keyboard.

Skipped, with the reason, where no Chromium or chromedriver is installed (.ci/run installs them).
`CXRECON_SCREENSHOT=docs/status-page.png pytest tests/controller/test_page_browser.py` also takes
the README's screenshot (of a tenant with realistic names; compress it with `pngquant`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.controller.report import CycleReport, Decision
from reconciler.plan.diff import Origin
from reconciler.testing import RunningEmulator

from .helpers import (
    CANARY,
    ConnectorsRepo,
    ControllerFactory,
    FakeClock,
    connector_yaml,
    git,
    remote_connectors,
)
from .page_support import HOSTILE_NAME, ControllerThread, seed_orphan

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
CHROMEDRIVER = shutil.which("chromedriver")
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"

try:
    from selenium import webdriver
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
except ImportError:  # pragma: no cover - selenium is in the test extra
    SELENIUM = False
else:
    SELENIUM = True

pytestmark = pytest.mark.skipif(
    not (SELENIUM and CHROMIUM and CHROMEDRIVER),
    reason="no headless browser: install Debian's chromium and chromium-driver (and selenium, "
    "from the test extra); .ci/run does",
)

#: A deny window that is always active (each day, for a day) for the Gamma connectors, and a
#: warning policy Gamma breaks (the status page's policy table, checked by axe).
PROJECT = """\
project: controller-tests
connectors: connectors/
syncWindows:
  - kind: deny
    schedule: "0 0 * * *"
    duration: 24h
    timeZone: UTC
    connectors: ["Gamma-*"]
    description: change freeze
policies:
  - name: ticket-connectors-reviewed
    rule: connector.name != "Gamma-Tickets"
    message: ticket connectors need the service desk's review
    severity: warning
"""


class LiveClock(FakeClock):
    """Real wall time (the audit log's records are stamped with it), real monotonic time."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1200,1000",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--lang=en-US",
        # Nothing leaves the machine: no background services, and every request but those to
        # the loopback address goes to a proxy that is not there.
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-sync",
        "--disable-extensions",
        "--proxy-server=http://127.0.0.1:9",
        "--proxy-bypass-list=<-loopback>;127.0.0.1",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: webdriver.Chrome) -> list[str]:
    """Console messages of level SEVERE since the last call (the log is drained)."""
    entries: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return [e["message"] for e in entries if e.get("level") == "SEVERE"]


def axe_violations(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """axe-core's violations of the current page (WCAG 2.x A and AA, and best practices)."""
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    result: dict[str, Any] = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        axe.run(document, {resultTypes: ['violations']})
          .then(r => done({violations: r.violations.map(v => ({
              id: v.id, impact: v.impact, help: v.help,
              nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))}))
          .catch(e => done({error: String(e)}));
        """
    )
    assert "error" not in result, result
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def serious(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def rows(driver: webdriver.Chrome) -> dict[str, str]:
    """Connector name → the state badge's text, as the overview shows them."""
    found = {}
    for tr in driver.find_elements(By.CSS_SELECTOR, "table.connectors tbody tr"):
        name = tr.find_element(By.CSS_SELECTOR, "th").text
        found[name] = tr.find_element(By.CSS_SELECTOR, ".badge").text
    return found


def no_alert(driver: webdriver.Chrome) -> bool:
    try:
        driver.switch_to.alert  # noqa: B018 - raises when there is none
    except NoAlertPresentException:
        return True
    return False


def whole_page(driver: webdriver.Chrome, url: str, path: Path, width: int = 1100) -> None:
    """A screenshot of the whole page at `width` CSS pixels."""
    driver.set_window_size(width, 400)
    driver.get(url)
    height = driver.execute_script(
        "return document.documentElement.scrollHeight + window.outerHeight - window.innerHeight"
    )
    driver.set_window_size(width, min(int(height), 2400))
    driver.save_screenshot(str(path))


def seed_syncs(audit_log: Path, names: tuple[str, str] = ("Alpha", "Beta")) -> None:
    """CRM data syncs in the audit log (as `cxrecon apply --sync` / `cxrecon sync` write them)."""
    audit_log.parent.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    lines = []
    for i in range(14):
        failed = i in (4, 11)
        lines.append(
            {
                "v": 1,
                "time": (now - dt.timedelta(minutes=25 * i + 3)).isoformat(timespec="milliseconds"),
                "runId": f"sync-{i}",
                "command": "sync",
                "actor": {"user": "ops", "ciActor": None, "gitCommit": None},
                "environment": None,
                "connector": names[i % 2],
                "connectorId": None,
                "action": "sync",
                "fields": [],
                "result": "failure" if failed else "success",
                "latencyMs": 4000.0 + 300 * i,
                "error": {"class": "FAILED", "message": "CRM answered 503"} if failed else None,
                "details": {
                    "syncType": "INCREMENTAL",
                    "status": "FAILED" if failed else "COMPLETED",
                    "recordsProcessed": 0 if failed else 1200 + 37 * i,
                },
            }
        )
    audit_log.write_text("".join(json.dumps(r) + "\n" for r in lines))


def test_the_status_page_in_a_browser(
    browser: webdriver.Chrome,
    make_controller: ControllerFactory,
    repo: ConnectorsRepo,
    emulator: RunningEmulator,
    tmp_path: Path,
) -> None:
    repo.commit(
        {
            "cxrecon.yaml": PROJECT,
            "connectors/beta.yaml": connector_yaml("Beta", description="Contacts <b>& leads</b>"),
            "connectors/gamma.yaml": connector_yaml("Gamma-Tickets"),
        }
    )
    git(repo.checkout, "pull", "-q")
    # A GitHub remote, so the page links files and commits (the controller does not pull here).
    git(repo.checkout, "remote", "set-url", "origin", "git@github.com:acme/connectors.git")
    seed_orphan(emulator, repo.checkout)
    seed_syncs(tmp_path / "state" / "audit.jsonl")
    controller = make_controller(clock=LiveClock(), interval=3600, pull=False)
    errors: list[str] = []
    with ControllerThread(controller) as running:
        running.wait_for_cycle(1)
        browser.get(running.url + "/")
        assert browser.title == "Connectors in default · cxrecon status"
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
        assert rows(browser) == {
            HOSTILE_NAME: "Removed from git",
            "Gamma-Tickets": "New",
            "Alpha": "Updated",
            "Beta": "Updated",
        }
        assert no_alert(browser)
        # A warning policy: listed in its own table (checked by axe below), nothing held.
        policies = browser.find_element(By.ID, "policy-title").find_element(By.XPATH, "..").text
        assert "ticket-connectors-reviewed" in policies
        assert "the service desk's review" in policies
        errors += console_errors(browser)

        # An out-of-band edit shows as drift after the next cycle.
        alpha_id = remote_connectors(emulator)["Alpha"]["id"]
        emulator.control.edit(alpha_id, {"description": "edited in the CXone UI"})
        report: CycleReport = running.next_cycle()
        alpha = next(c for c in report.connectors if c.name == "Alpha")
        assert (alpha.origin, alpha.decision) == (Origin.DRIFT, Decision.REPORT)
        browser.refresh()
        assert rows(browser)["Alpha"] == "Changed in CXone"
        assert rows(browser)["Beta"] == "In sync"
        badge = browser.find_element(By.CSS_SELECTOR, '[data-state="drift"]')
        assert badge.text == "Changed in CXone"
        assert (
            "change freeze"
            in browser.find_element(By.ID, "windows-title")
            .find_element(By.XPATH, "following-sibling::div[1]")
            .text
        )
        assert browser.find_elements(By.CSS_SELECTOR, "svg rect.bar-failed")  # the sync chart
        errors += console_errors(browser)

        # Keyboard: the first Tab reaches the skip link, which moves focus to the content.
        body = browser.find_element(By.TAG_NAME, "body")
        body.send_keys(Keys.TAB)
        assert browser.switch_to.active_element.text == "Skip to the content"
        browser.switch_to.active_element.send_keys(Keys.ENTER)
        assert browser.switch_to.active_element.get_attribute("id") == "main"

        violations = axe_violations(browser)
        assert serious(violations) == [], violations
        # The dark colour scheme too (colour contrast is what differs).
        dark = {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", dark)
        browser.refresh()
        assert serious(axe_violations(browser)) == []
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
        errors += console_errors(browser)
        screenshot = tmp_path / "status-page.png"
        browser.set_window_size(1100, 400)
        browser.get(running.url + "/")
        height = browser.execute_script(
            "return document.documentElement.scrollHeight + window.outerHeight - window.innerHeight"
        )
        browser.set_window_size(1100, min(int(height), 2400))  # the whole page
        browser.save_screenshot(str(screenshot))
        assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if os.environ.get("CXRECON_SCREENSHOT"):
            shutil.copyfile(screenshot, os.environ["CXRECON_SCREENSHOT"])
        browser.set_window_size(1200, 1000)

        # The connector named like a script is text: no alert, its name shown as written.
        hostile = browser.find_element(By.LINK_TEXT, HOSTILE_NAME)
        hostile.click()
        assert browser.find_element(By.TAG_NAME, "h1").text == HOSTILE_NAME
        assert "Removed from git" in browser.find_element(By.ID, "state-title").text
        assert no_alert(browser)
        assert browser.find_elements(By.TAG_NAME, "script") == []
        errors += console_errors(browser)

        # A connector's page: the fields that differ, its audit records, its data syncs.
        browser.get(running.url + "/")
        browser.find_element(By.LINK_TEXT, "Alpha").click()
        assert browser.current_url.endswith("/connectors/Alpha")
        assert browser.find_element(By.TAG_NAME, "h1").text == "Alpha"
        diff = browser.find_element(By.ID, "diff-title").find_element(By.XPATH, "..").text
        assert "description" in diff
        audit = browser.find_element(By.ID, "audit-title").find_element(By.XPATH, "..").text
        assert "Created" in audit
        assert "Switched on" in audit
        syncs = browser.find_element(By.ID, "syncs-title").find_element(By.XPATH, "..").text
        assert "Completed" in syncs
        assert "CRM answered 503" in syncs
        commit_links = browser.find_elements(By.CSS_SELECTOR, 'a[href^="https://github.com/acme/"]')
        assert commit_links
        assert serious(axe_violations(browser)) == []
        errors += console_errors(browser)

        # A phone: nothing wider than the screen, the connectors still readable.
        browser.set_window_size(390, 844)
        browser.get(running.url + "/")
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1
        assert "Changed in CXone" in browser.find_element(By.CSS_SELECTOR, "table.connectors").text
        assert serious(axe_violations(browser)) == []
        errors += console_errors(browser)
        assert CANARY not in browser.page_source

    assert errors == []


@pytest.mark.skipif(
    not os.environ.get("CXRECON_SCREENSHOT"), reason="set CXRECON_SCREENSHOT=PATH to take it"
)
def test_the_readme_screenshot(
    browser: webdriver.Chrome,
    make_controller: ControllerFactory,
    repo: ConnectorsRepo,
    emulator: RunningEmulator,
    tmp_path: Path,
) -> None:
    """The page of a tenant with a few connectors in different states, for the README."""
    project = PROJECT.replace("Gamma-*", "HubSpot-*").replace("change freeze", "quarter-end freeze")
    names = ("Salesforce-Contact-Sync", "Dynamics-Case-Sync", "Zendesk-Tickets", "HubSpot-Leads")
    repo.commit(
        {
            "cxrecon.yaml": project,
            "connectors/alpha.yaml": None,
            **{f"connectors/{n.lower()}.yaml": connector_yaml(n) for n in names},
        }
    )
    git(repo.checkout, "pull", "-q")
    git(repo.checkout, "remote", "set-url", "origin", "git@github.com:acme/cxone-connectors.git")
    seed_orphan(emulator, repo.checkout, "Legacy-SAP-Accounts")
    seed_syncs(tmp_path / "state" / "audit.jsonl", names[:2])
    with ControllerThread(make_controller(clock=LiveClock(), interval=3600, pull=False)) as c:
        c.wait_for_cycle(1)
        for _ in range(5):
            c.next_cycle()
        connectors = remote_connectors(emulator)
        emulator.control.edit(connectors["Zendesk-Tickets"]["id"], {"description": "edited in UI"})
        emulator.control.edit(
            connectors["Dynamics-Case-Sync"]["id"], {"lifecycleStatus": "INACTIVE"}
        )
        c.next_cycle()
        whole_page(browser, c.url + "/", Path(os.environ["CXRECON_SCREENSHOT"]))
