"""Messages for people in a chat: short, naming environment, commit and where to look, with
user-controlled text (connector names, values, reasons) inert for the medium and mentioning
nobody."""

from __future__ import annotations

import pytest

from reconciler.notify.events import (
    Event,
    EventKind,
    Where,
    drift_item,
    failed_item,
    not_ready_event,
)
from reconciler.notify.message import ITEMS_SHOWN, render

COMMIT = "0123456789abcdef0123456789abcdef01234567"
ACTIONS = {
    "GITHUB_SERVER_URL": "https://github.example",
    "GITHUB_REPOSITORY": "acme/connectors",
    "GITHUB_RUN_ID": "4242",
    "CXRECON_STATUS_URL": "https://cxrecon.acme.example",
}
HOSTILE = (
    "Evil <!here> @channel @everyone <@U123> [click](https://phish.example) `x` *b* \x1b[2J\u202e"
)


def where(**environ: str) -> Where:
    return Where.of(environ, environment="production", commit=COMMIT, project="crm")


def drift(name: str = "Salesforce-Prod") -> Event:
    item = drift_item(
        name,
        [
            ("syncSettings.batchSize", 200, 500, False),
            ("authentication.credentials.apiKey", "****", "****", True),
        ],
    )
    return Event(EventKind.DRIFT, "", where(**ACTIONS)).only([item])


def test_a_drift_message_names_connector_fields_environment_commit_and_links() -> None:
    message = render(drift(), markdown=True)
    assert message.title == "cxrecon: drift in production"
    assert message.body == (
        "**1 connector(s) changed in CXone since cxrecon last applied them.**\n"
        "\n"
        "- **Salesforce-Prod**: syncSettings.batchSize: 200 → 500; "
        "authentication.credentials.apiKey: changed (secret, not shown)\n"
        "\n"
        "Environment production; project crm; commit `0123456789ab`.\n"
        "[workflow run](https://github.example/acme/connectors/actions/runs/4242) · "
        "[status page](https://cxrecon.acme.example/)"
    )


def test_plain_text_has_no_markup_and_the_links_in_full() -> None:
    message = render(drift(), markdown=False)
    assert "**" not in message.body
    assert "`" not in message.body
    assert "Workflow run: https://github.example/acme/connectors/actions/runs/4242" in message.body
    assert "Status page: https://cxrecon.acme.example/" in message.body


@pytest.mark.parametrize("markdown", [True, False])
def test_user_text_is_inert_and_mentions_nobody(markdown: bool) -> None:
    event = Event(EventKind.APPLY_FAILED, "", where()).only([failed_item(HOSTILE, HOSTILE)])
    body = render(event, markdown=markdown).body
    assert "@channel" not in body
    assert "@everyone" not in body
    assert "@\u200bchannel" in body
    assert "@\u200beveryone" in body
    assert "<!here>" not in body
    assert "<@U123>" not in body
    assert "\x1b" not in body
    assert "\u202e" not in body
    assert "x1b" in body
    assert "u202e" in body
    if markdown:
        # Every markup character of the user's text is escaped: no link, code, emphasis, HTML.
        assert "\\[click\\](https://phish.example)" in body
        assert "\\`x\\`" in body
        assert "\\*b\\*" in body
        assert "\\<!here\\>" in body
    assert body.count("\n") < 8  # the reason stays on one line


def test_a_long_list_is_cut_with_a_count() -> None:
    items = [failed_item(f"Connector-{i}", "timeout") for i in range(ITEMS_SHOWN + 5)]
    body = render(Event(EventKind.APPLY_FAILED, "", where()).only(items), markdown=False).body
    assert f"Connector-{ITEMS_SHOWN - 1}" in body
    assert f"Connector-{ITEMS_SHOWN}:" not in body
    assert "- … and 5 more" in body
    assert body.startswith(f"{ITEMS_SHOWN + 5} connector(s) could not be applied.")


def test_many_fields_are_cut_and_values_shortened() -> None:
    fields = [(f"labels.k{i}", "a" * 100, "b", False) for i in range(8)]
    body = render(
        Event(EventKind.DRIFT, "", where()).only([drift_item("C", fields)]), markdown=False
    ).body
    assert "… and 3 more field(s)" in body
    assert "a" * 40 not in body


def test_without_actions_or_a_status_page_there_are_no_links() -> None:
    body = render(not_ready_event("cycle 3 failed: boom", where()), markdown=True).body
    assert body == (
        "**The controller is not ready.**\ncycle 3 failed: boom\n\n"
        "Environment production; project crm; commit `0123456789ab`."
    )


def test_links_that_could_break_markup_are_left_out() -> None:
    hostile = where(
        GITHUB_REPOSITORY="acme/x",
        GITHUB_RUN_ID="1) [x](https://evil.example",
        CXRECON_STATUS_URL="javascript:alert(1)",
    )
    assert hostile.links == ()
    assert Where.of({}, environment=None, commit="not a sha; rm -rf", project=None).commit is None


def test_underscores_inside_words_stay_as_they_read() -> None:
    item = drift_item("_Sales_", [("mappings[case.external_id].direction", "IN", "OUT", False)])
    body = render(Event(EventKind.DRIFT, "", where()).only([item]), markdown=True).body
    assert "**\\_Sales\\_**" in body
    assert "mappings\\[case.external_id\\].direction" in body
