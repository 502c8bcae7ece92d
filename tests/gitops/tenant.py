"""A seeded, varied tenant for the dump round trip: every connector type, auth type and
lifecycle state, optional fields present and absent, labels (cxrecon's own among them),
names whose file slugs collide, and canary secrets."""

from __future__ import annotations

import random
from typing import Any, Final

from reconciler.model import CONNECTOR_TYPES, LIFECYCLE_STATES

SECRET_CANARY: Final = "CANARY-dump-secret-"
PLAIN_CANARY: Final = "CANARY-dump-plain-"

_IDENTITY: Final = {
    "SALESFORCE": ("contact.external_id", "Id", "salesforce_id18"),
    "DYNAMICS": ("contact.external_id", "contactid", "guid"),
    "CUSTOM": ("contact.external_id", "id", None),
}
_HOSTS: Final = {
    "SALESFORCE": "https://acme{n}.my.salesforce.com/services/data/v60.0",
    "DYNAMICS": "https://acme{n}.crm.dynamics.com/api/data/v9.2",
    "CUSTOM": "https://crm{n}.acme.example/api",
}
#: (cxoneField, crmField, transformation or None): each fits the field's kind.
_EXTRA: Final = (
    ("contact.email", "Email", "email_normalize"),
    ("contact.phone", "Phone", "e164"),
    ("contact.first_name", "FirstName", "trim"),
    ("contact.last_name", "LastName", None),
    ("contact.company", "Company", "collapse_whitespace"),
    ("contact.vip", "Vip", "boolean"),
    ("contact.language", "Language", "language_bcp47"),
    ("contact.custom.loyalty_id", "Loyalty_Id", None),
    ("account.name", "AccountName", "titlecase"),
    ("interaction.disposition", "Disposition", None),
)
_DESCRIPTIONS: Final = (
    "Plain description",
    "Notes: with a colon # and a hash",
    "yes",
    "Costs ${not_a_var} and 100%",
    "  padded  ",
    "Ünïcödé — “quoted”",
)
#: Names whose slugs collide (acme-crm-1), and one starting with a digit.
SPECIAL_NAMES: Final = ("Acme_CRM-1", "acme.crm-1", "ACME-CRM_1", "9-Legacy")


def _credentials(auth: str, i: int, rng: random.Random) -> dict[str, str]:
    if auth == "BASIC":
        return {"username": f"{PLAIN_CANARY}user-{i}", "password": f"{SECRET_CANARY}{i}"}
    if auth == "OAUTH2":
        creds = {
            "tokenEndpoint": f"https://login.acme.example/{PLAIN_CANARY}{i}/token",
            "clientId": f"{PLAIN_CANARY}client-{i}",
            "clientSecret": f"{SECRET_CANARY}{i}",
        }
        if rng.random() < 0.5:
            creds["scope"] = f"{PLAIN_CANARY}scope-{i}"
        return creds
    creds = {"apiKey": f"{SECRET_CANARY}{i}"}
    if rng.random() < 0.5:
        creds["headerName"] = "X-Api-Key"
    return creds


def connectors(count: int = 50, seed: int = 7) -> list[dict[str, Any]]:
    """`count` connector bodies for the emulator's admin create route."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for i in range(count):
        kind = CONNECTOR_TYPES[i % len(CONNECTOR_TYPES)]
        auth = ("BASIC", "OAUTH2", "API_KEY")[(i // 3) % 3]
        state = LIFECYCLE_STATES[(i // 9) % len(LIFECYCLE_STATES)]
        cx, crm, transformation = _IDENTITY[kind]
        mappings = [{"cxoneField": cx, "crmField": crm, "direction": "INBOUND"}]
        if transformation:
            mappings[0]["transformation"] = transformation
        for cxf, crmf, tr in rng.sample(_EXTRA, rng.randint(0, 5)):
            mapping = {"cxoneField": cxf, "crmField": crmf}
            mapping["direction"] = rng.choice(["INBOUND", "OUTBOUND", "BIDIRECTIONAL"])
            if tr is not None:
                mapping["transformation"] = tr
            elif mapping["direction"] == "BIDIRECTIONAL":
                mapping["transformation"] = "none"
            mappings.append(mapping)
        name = SPECIAL_NAMES[i] if i < len(SPECIAL_NAMES) else f"{kind.title()}-Conn-{i:02d}"
        body: dict[str, Any] = {
            "name": name,
            "lifecycleStatus": state,
            "connectorType": kind,
            "endpointUrl": _HOSTS[kind].format(n=i),
            "authentication": {"type": auth, "credentials": _credentials(auth, i, rng)},
            "mappings": mappings,
            "version": f"{rng.randint(0, 3)}.{rng.randint(0, 9)}.{rng.randint(0, 20)}",
        }
        if rng.random() < 0.6:
            body["description"] = rng.choice(_DESCRIPTIONS)
        sync = rng.choice(
            [
                None,
                {},
                {"batchSize": 1000},
                {"batchSize": 500, "syncIntervalMinutes": 60},
                {"batchSize": 200, "retryAttempts": 0, "syncIntervalMinutes": 1440},
            ]
        )
        if sync is not None:
            body["syncSettings"] = sync
        labels: dict[str, str] = {}
        if rng.random() < 0.5:
            labels["team"] = rng.choice(["crm", "support", "sales-ops"])
        if rng.random() < 0.3:
            labels["app.kubernetes.io/part-of"] = "contact-center"
        if rng.random() < 0.2:
            labels["on"] = "yes"  # YAML 1.1 booleans: must stay strings
        if i % 10 == 5:
            labels["managed-by"] = "cxrecon"
            labels["cxrecon.io/note"] = "previous-run"
        if labels:
            body["labels"] = labels
        out.append(body)
    return out
