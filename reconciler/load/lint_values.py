"""Lint of single values CXone takes as they are: URLs (credentials in them, http://, a host
that does not fit the connector type), names, and the form of non-secret credentials."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from reconciler.load.lint_rules import Finding, Path_
from reconciler.secret import is_secret_field, looks_secret

#: Host suffixes each hosted CRM serves its API from.
_CRM_HOSTS: Final = {
    "SALESFORCE": ("salesforce.com", "force.com", "salesforce.mil", "sfcrmproducts.cn"),
    "DYNAMICS": ("dynamics.com", "dynamics.cn", "microsoftdynamics.us", "appsplatform.us"),
}
#: URLs inside free text (a description).
_URL_IN_TEXT: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s<>\"']+")


def secrets_in_urls(data: Any) -> list[Finding]:
    """`secret-in-url` findings: credentials in endpointUrl, in a credentials value (such as
    tokenEndpoint) or in a URL in the description. CXone stores and shows these fields in
    clear, so a credential there leaks; the messages name the part, never its value."""
    if not isinstance(data, dict):
        return []
    candidates: list[tuple[Path_, str, list[str]]] = []
    url = data.get("endpointUrl")
    if isinstance(url, str):
        candidates.append((("endpointUrl",), "endpointUrl", [url]))
    auth = data.get("authentication")
    credentials = auth.get("credentials") if isinstance(auth, dict) else None
    if isinstance(credentials, dict):
        for key, value in credentials.items():
            if isinstance(value, str) and "://" in value and not is_secret_field(key):
                path: Path_ = ("authentication", "credentials", key)
                candidates.append((path, f"credentials.{key}", [value]))
    description = data.get("description")
    if isinstance(description, str) and "://" in description:
        candidates.append((("description",), "description", _URL_IN_TEXT.findall(description)))
    findings: list[Finding] = []
    for path, field, urls in candidates:
        for candidate in urls:
            problem = _url_credential(candidate)
            if problem is not None:
                findings.append(
                    Finding(
                        "secret-in-url",
                        path,
                        f"{field} {problem}; CXone stores and shows it in clear. Remove it "
                        "and give the secret to the connector as a credential "
                        "(authentication.credentials, as ${env:NAME} or ${file:PATH}); "
                        "rotate it if it was ever committed",
                    )
                )
                break
    return findings


def _url_credential(url: str) -> str | None:
    """What credential `url` carries, in words that do not repeat it; None if none."""
    # Lexically, not only as parsed: a password holding `#` or `?` would end the parsed
    # authority early and hide the `@` in the fragment or query.
    authority = url.split("://", 1)[-1].split("/", 1)[0]
    if "@" in authority and "?" not in authority.split("@", 1)[0]:
        return "carries credentials in its user-info part (user:password@host)"
    try:
        parts = urlsplit(url)
    except ValueError:
        return None  # the schema reports a malformed URL
    for where, text in (("query parameter", parts.query), ("fragment parameter", parts.fragment)):
        for name, value in parse_qsl(text, keep_blank_values=True):
            if value and looks_secret(name):
                return f"has a secret {where} '{name}'"
    return None


def endpoint_findings(data: Mapping[str, Any]) -> Iterator[Finding]:
    hosts = _CRM_HOSTS.get(str(data.get("connectorType")))
    url = data.get("endpointUrl")
    if hosts is None or not isinstance(url, str):
        return
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return  # the schema reports a malformed URL
    if host and not any(host == h or host.endswith("." + h) for h in hosts):
        yield Finding(
            "endpoint-host-mismatch",
            ("endpointUrl",),
            f"{data['connectorType']} endpoints are normally under {' or '.join(hosts[:2])}, "
            f"not {host}; check connectorType and endpointUrl",
        )


#: A name's characters that no tool stumbles over: letters and digits of any script, '.', '_'
#: and '-'. CXone takes any character but control codes; spaces and other punctuation trip
#: up shells, globs (ignoreDifferences, `cxrecon sync NAME`) and variable names.
_PLAIN_NAME: Final = re.compile(r"(?:[^\W_]|[._-])+")
#: An HTTP header name (RFC 9110 token).
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def form_findings(data: Mapping[str, Any]) -> Iterator[Finding]:
    """Values CXone takes but that are likely mistakes: http:// endpoints, a token endpoint
    that is no https URL, a header name no HTTP client can send, a name with spaces."""
    name = data.get("name")
    if isinstance(name, str) and name and not _PLAIN_NAME.fullmatch(name):
        yield Finding(
            "name-characters",
            ("name",),
            f"name '{name}' holds spaces or punctuation other than '.', '_' and '-'; CXone "
            "takes it, but shells and globs need it quoted (rename it with previousNames)",
        )
    url = data.get("endpointUrl")
    if isinstance(url, str) and url.lower().startswith("http://"):
        yield Finding(
            "insecure-endpoint",
            ("endpointUrl",),
            "endpointUrl uses http://: CXone would send CRM data and credentials unencrypted; "
            "use https://",
        )
    auth = data.get("authentication")
    credentials = auth.get("credentials") if isinstance(auth, dict) else None
    if not isinstance(credentials, dict):
        return
    path: Path_ = ("authentication", "credentials")
    token = credentials.get("tokenEndpoint")
    if isinstance(token, str) and not _is_reference(token) and not _https_url(token):
        yield Finding(
            "credential-form",
            (*path, "tokenEndpoint"),
            "tokenEndpoint is not an https:// URL; the CRM's OAuth token URL usually is "
            "(e.g. https://login.salesforce.com/services/oauth2/token)",
        )
    header = credentials.get("headerName")
    if isinstance(header, str) and not _is_reference(header) and not _HEADER_NAME.fullmatch(header):
        yield Finding(
            "credential-form",
            (*path, "headerName"),
            f"headerName '{header}' is not an HTTP header name (letters, digits and '-', "
            "e.g. X-API-Key)",
        )


def _is_reference(value: str) -> bool:
    # A reference (or a ${var:} not substituted yet, with no environment selected) is
    # judged once resolved: apply checks the value it stands for.
    return "${" in value


def _https_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.hostname)
