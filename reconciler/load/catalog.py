"""The documented vocabulary lint checks against: CXone fields, transformations, identity
mappings per connector type and credential keys per authentication type.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

FieldKind = Literal["id", "string", "email", "phone", "datetime", "date", "boolean", "number"]


@dataclass(frozen=True, slots=True)
class CxoneField:
    kind: FieldKind
    description: str
    #: Set by CXone itself: data may flow out (OUTBOUND) but never in.
    read_only: bool = False


def _f(kind: FieldKind, description: str, *, read_only: bool = False) -> CxoneField:
    return CxoneField(kind, description, read_only)


#: CXone fields a mapping may name as `cxoneField`.
CXONE_FIELDS: Final[Mapping[str, CxoneField]] = {
    # contact: the customer record shown to agents
    "contact.id": _f("id", "CXone contact identifier"),
    "contact.external_id": _f("id", "The CRM's identifier stored on the contact"),
    "contact.first_name": _f("string", "Given name"),
    "contact.last_name": _f("string", "Family name"),
    "contact.full_name": _f("string", "Display name"),
    "contact.email": _f("email", "Primary e-mail address"),
    "contact.secondary_email": _f("email", "Secondary e-mail address"),
    "contact.phone": _f("phone", "Primary phone number"),
    "contact.mobile_phone": _f("phone", "Mobile phone number"),
    "contact.home_phone": _f("phone", "Home phone number"),
    "contact.company": _f("string", "Employer or account name"),
    "contact.title": _f("string", "Job title"),
    "contact.language": _f("string", "Preferred language (BCP 47 tag)"),
    "contact.timezone": _f("string", "IANA time zone"),
    "contact.street": _f("string", "Street address"),
    "contact.city": _f("string", "City"),
    "contact.state": _f("string", "State, province or region"),
    "contact.postal_code": _f("string", "Postal code"),
    "contact.country": _f("string", "Country (ISO 3166-1 alpha-2)"),
    "contact.vip": _f("boolean", "Marked as a VIP customer"),
    "contact.do_not_call": _f("boolean", "Must not be called (compliance)"),
    "contact.do_not_email": _f("boolean", "Must not be e-mailed (compliance)"),
    "contact.customer_tier": _f("string", "Service tier used for routing"),
    "contact.lifetime_value": _f("number", "Customer lifetime value"),
    "contact.birth_date": _f("date", "Date of birth"),
    "contact.created_time": _f("datetime", "When CXone created the contact", read_only=True),
    "contact.updated_time": _f("datetime", "Last change in CXone", read_only=True),
    # account: the organization a contact belongs to
    "account.id": _f("id", "CXone account identifier"),
    "account.external_id": _f("id", "The CRM's account identifier"),
    "account.name": _f("string", "Account name"),
    "account.industry": _f("string", "Industry"),
    "account.phone": _f("phone", "Main account phone number"),
    "account.website": _f("string", "Account web site"),
    "account.annual_revenue": _f("number", "Annual revenue"),
    # interaction: one contact-center conversation
    "interaction.id": _f("id", "Interaction identifier", read_only=True),
    "interaction.channel": _f("string", "Channel (voice, chat, email, sms, …)", read_only=True),
    "interaction.direction": _f("string", "inbound or outbound", read_only=True),
    "interaction.created_time": _f("datetime", "When the interaction started", read_only=True),
    "interaction.ended_time": _f("datetime", "When the interaction ended", read_only=True),
    "interaction.duration_seconds": _f("number", "Talk plus hold time", read_only=True),
    "interaction.queue": _f("string", "Skill or queue that routed it", read_only=True),
    "interaction.disposition": _f("string", "Disposition chosen by the agent"),
    "interaction.notes": _f("string", "Agent notes"),
    "interaction.subject": _f("string", "Subject (e-mail, case)"),
    "interaction.recording_url": _f("string", "Link to the recording", read_only=True),
    "interaction.sentiment": _f("number", "Sentiment score from -1 to 1", read_only=True),
    "interaction.wrap_up_code": _f("string", "After-call work code"),
    # agent: the person handling interactions
    "agent.id": _f("id", "Agent (user) identifier", read_only=True),
    "agent.external_id": _f("id", "The CRM user's identifier"),
    "agent.email": _f("email", "Agent's login e-mail"),
    "agent.first_name": _f("string", "Agent's given name"),
    "agent.last_name": _f("string", "Agent's family name"),
    "agent.team": _f("string", "Team name"),
    "agent.skill": _f("string", "Primary skill"),
    # case: a ticket tracked across interactions
    "case.id": _f("id", "CXone case identifier"),
    "case.external_id": _f("id", "The CRM's case identifier"),
    "case.number": _f("string", "Human-readable case number"),
    "case.subject": _f("string", "Case subject"),
    "case.description": _f("string", "Case description"),
    "case.status": _f("string", "Open, pending, solved, …"),
    "case.priority": _f("string", "Priority"),
    "case.category": _f("string", "Category"),
    "case.created_time": _f("datetime", "When the case was opened"),
    "case.closed_time": _f("datetime", "When the case was closed"),
    "case.due_date": _f("date", "Due date"),
    "case.escalated": _f("boolean", "Escalated to a supervisor"),
    # opportunity: sales follow-up created from interactions
    "opportunity.id": _f("id", "CXone opportunity identifier"),
    "opportunity.external_id": _f("id", "The CRM's opportunity identifier"),
    "opportunity.name": _f("string", "Opportunity name"),
    "opportunity.stage": _f("string", "Sales stage"),
    "opportunity.amount": _f("number", "Amount"),
    "opportunity.close_date": _f("date", "Expected close date"),
}

#: `contact.custom.<name>` (and account/case) address CXone custom fields, typed as strings.
#: A name is lower-case letters of any script (CXone's UI takes `préférence`), digits and '_'.
CUSTOM_FIELD: Final = re.compile(r"(contact|account|case)\.custom\.(?:[^\W\d_])\w{0,63}")


def lookup_field(name: str) -> CxoneField | None:
    """The catalog entry for `name`, or a string-typed entry for a custom field."""
    entry = CXONE_FIELDS.get(name)
    if entry is None and CUSTOM_FIELD.fullmatch(name) and name == name.lower():
        return CxoneField("string", "Custom field")
    return entry


@dataclass(frozen=True, slots=True)
class Transformation:
    description: str
    #: Field kinds the transformation makes sense for (empty: any).
    applies_to: frozenset[FieldKind] = frozenset()


def _t(description: str, *kinds: FieldKind) -> Transformation:
    return Transformation(description, frozenset(kinds))


_TEXT: Final[tuple[FieldKind, ...]] = ("string", "email", "id")

#: Transformations a mapping may name; each converts a value on its way across.
TRANSFORMATIONS: Final[Mapping[str, Transformation]] = {
    "none": _t("Copy the value unchanged (states that no conversion is intended)."),
    "trim": _t("Remove leading and trailing whitespace.", *_TEXT, "phone"),
    "lowercase": _t("Convert to lower case.", *_TEXT),
    "uppercase": _t("Convert to upper case.", *_TEXT),
    "titlecase": _t("Capitalize the first letter of every word.", "string"),
    "collapse_whitespace": _t("Trim and turn runs of whitespace into one space.", "string"),
    "e164": _t("Normalize a phone number to E.164 (+14155550123).", "phone"),
    "digits_only": _t("Keep only the digits (0-9).", "phone", "string", "id"),
    "email_normalize": _t("Trim and lower-case an e-mail address.", "email"),
    "iso8601": _t("Format a timestamp as ISO 8601 in UTC (2024-05-01T12:00:00Z).", "datetime"),
    "epoch_millis": _t("Convert a timestamp to/from milliseconds since 1970.", "datetime"),
    "date": _t("Keep the calendar date only, as YYYY-MM-DD.", "date", "datetime"),
    "boolean": _t("Parse true/false, yes/no, 1/0 into a boolean.", "boolean"),
    "number": _t("Parse a decimal number; an empty value becomes null.", "number"),
    "integer": _t("Parse a whole number; fractions are rejected.", "number"),
    "string": _t("Convert any value to its text form."),
    "country_iso2": _t("Map country names to ISO 3166-1 alpha-2 codes.", "string"),
    "language_bcp47": _t("Normalize language names/codes to BCP 47 tags.", "string"),
    "salesforce_id18": _t("Expand a 15-character Salesforce Id to its 18-character form.", "id"),
    "guid": _t("Normalize a GUID to lower case with hyphens (Dynamics ids).", "id"),
}


@dataclass(frozen=True, slots=True)
class IdentityRule:
    """Which crmField identifies a record for a connector type (case-insensitive)."""

    crm_fields: tuple[str, ...]
    hint: str


#: A connector must map one of these CRM fields, or records cannot be matched.
IDENTITY_MAPPINGS: Final[Mapping[str, IdentityRule]] = {
    "SALESFORCE": IdentityRule(
        ("Id",), "map Salesforce's record `Id` (e.g. to contact.external_id)"
    ),
    "DYNAMICS": IdentityRule(
        ("contactid", "accountid", "leadid", "incidentid", "opportunityid"),
        "map the entity's primary key, e.g. `contactid` (to contact.external_id)",
    ),
    "CUSTOM": IdentityRule(("id",), "map the CRM record's `id` (e.g. to contact.external_id)"),
}


@dataclass(frozen=True, slots=True)
class CredentialKeys:
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    @property
    def allowed(self) -> tuple[str, ...]:
        return self.required + self.optional


#: Credential keys per authentication type (the schema's if/then mirrors this table).
AUTH_CREDENTIALS: Final[Mapping[str, CredentialKeys]] = {
    "BASIC": CredentialKeys(("username", "password")),
    "OAUTH2": CredentialKeys(("tokenEndpoint", "clientId", "clientSecret"), ("scope", "audience")),
    "API_KEY": CredentialKeys(("apiKey",), ("headerName",)),
}
