"""Builders for plan tests: specs, desired/remote connectors, and "as cxrecon applied it"."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reconciler.config.project import SafetyLimits
from reconciler.load.references import is_secret_reference
from reconciler.load.secret_lookup import resolve_secret
from reconciler.model import (
    LABEL_APPLIED_DIGEST,
    LABEL_CREDENTIALS_FINGERPRINT,
    LABEL_MANAGED_BY,
    MANAGED_BY_VALUE,
    Authentication,
    ConnectorSpec,
    DesiredConnector,
    FieldMapping,
    RemoteConnector,
    SourceLocation,
    SyncSettings,
)
from reconciler.plan.build import build_plan
from reconciler.plan.changes import Plan
from reconciler.plan.credentials import CredentialChecker
from reconciler.plan.essence import applied_digest, essence_of
from reconciler.secret import is_secret_field

CANARY = "CANARY-s3cr3t-value-7f3a9c"
ENV = {"SF_SECRET": CANARY}


def spec(name: str = "sf-contacts", **changes: Any) -> ConnectorSpec:
    base = ConnectorSpec(
        name=name,
        description="Contacts from Salesforce",
        lifecycle_status="ACTIVE",
        connector_type="SALESFORCE",
        endpoint_url="https://acme.my.salesforce.com/services/data/v60.0",
        authentication=Authentication(
            type="OAUTH2",
            credentials={"clientId": "app-1", "clientSecret": "${env:SF_SECRET}"},
        ),
        mappings=(
            FieldMapping("contact.email", "Email", "BIDIRECTIONAL", "email_normalize"),
            FieldMapping("contact.first_name", "FirstName", "INBOUND"),
            FieldMapping("contact.phone", "Phone", "INBOUND", "e164"),
        ),
        sync_settings=SyncSettings(batch_size=200),
        version="1.0.0",
        labels={"team": "crm"},
    )
    return dataclasses.replace(base, **changes)


def desired(s: ConnectorSpec, path: str = "connectors/x.yaml") -> DesiredConnector:
    return DesiredConnector(spec=s, source=SourceLocation(path, 1, 1))


def checker(environ: Mapping[str, str] | None = ENV) -> CredentialChecker:
    """Resolves ${env:} from `environ`; None means secrets are not available."""
    if environ is None:
        return CredentialChecker(lookup=None, is_secret_key=is_secret_field, log2_n=10)
    env = dict(environ)

    def lookup(value: str) -> str:
        if not is_secret_reference(value):
            return value
        return resolve_secret(value, env, Path(".")).reveal()

    return CredentialChecker(lookup=lookup, is_secret_key=is_secret_field, log2_n=10)


def masked(s: ConnectorSpec) -> ConnectorSpec:
    """What the API returns: credential keys with masked values."""
    creds = {k: "********" for k in s.authentication.credentials}
    return dataclasses.replace(
        s, authentication=Authentication(type=s.authentication.type, credentials=creds)
    )


def applied(
    s: ConnectorSpec,
    *,
    cid: str = "c-1",
    etag: str = '"v1"',
    environ: Mapping[str, str] = ENV,
) -> RemoteConnector:
    """The remote connector as `cxrecon apply` leaves it for desired spec `s`."""
    c = checker(environ)
    plain = c.resolve_all(s.authentication.credentials)
    assert plain is not None
    fp = c.fingerprint(s.authentication.type, s.authentication.credentials, plain)
    labels = {
        **s.labels,
        LABEL_MANAGED_BY: MANAGED_BY_VALUE,
        LABEL_APPLIED_DIGEST: applied_digest(essence_of(s)),
        LABEL_CREDENTIALS_FINGERPRINT: fp,
    }
    return RemoteConnector(id=cid, etag=etag, spec=dataclasses.replace(masked(s), labels=labels))


def unmanaged(s: ConnectorSpec, cid: str = "u-1") -> RemoteConnector:
    return RemoteConnector(id=cid, etag='"u1"', spec=masked(s))


def edit_remote(r: RemoteConnector, **changes: Any) -> RemoteConnector:
    """An out-of-band edit in CXone: new ETag, labels untouched."""
    return dataclasses.replace(
        r, etag=r.etag.rstrip('"') + '-x"', spec=dataclasses.replace(r.spec, **changes)
    )


def make_plan(
    want: Sequence[ConnectorSpec | DesiredConnector],
    have: Sequence[RemoteConnector],
    *,
    environ: Mapping[str, str] | None = ENV,
    prune: bool = False,
    limits: SafetyLimits | None = None,
) -> Plan:
    ds = [w if isinstance(w, DesiredConnector) else desired(w) for w in want]
    return build_plan(
        ds,
        have,
        limits=limits or SafetyLimits(),
        checker=checker(environ),
        desired_digest="d" * 64,
        prune=prune,
    )
