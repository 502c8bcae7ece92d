"""Schemathesis runs against an emulator on a real port, checked against
schemas/cxone-api.openapi.yaml: every operation, public and admin, through the examples,
coverage and fuzzing phases (valid and invalid input), then a stateful run that follows the
document's links (create → get → patch with the ETag → sync → poll, out-of-band edits and
deletes). The run must come out clean: no 5xx, every status, header, content type and body
as documented, invalid input refused, valid input accepted unless a documented rule about the
state it meets says otherwise.

Bounded for a shared CI box: few examples per operation, a fixed seed, deterministic
generation (the file runs in well under a minute).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from importlib.resources import files
from typing import Any

import pytest
import schemathesis
import yaml
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events

from reconciler.testing import RunningEmulator

Factory = Callable[..., RunningEmulator]

DOCUMENT = yaml.safe_load(
    files("reconciler.schemas").joinpath("cxone-api.openapi.yaml").read_text()
)
OPERATIONS = sorted(
    (operation["operationId"], method.upper(), path)
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
    if isinstance(operation, dict) and "operationId" in operation
)
#: They change the whole emulator (wipe it, switch on faults and latency, move its clock),
#: which would leave the rest of a stateful scenario testing the fault injector; their own
#: runs below cover them.
WHOLE_EMULATOR = ["emulatorReset", "emulatorSetFaults", "emulatorAdvanceClock"]
#: A schema-valid request can still be refused for the state it meets: a name taken (409), a
#: stale If-Match (412), a lifecycle, immutability, credential-type or clock rule (422), a
#: connector that is not there (404). All documented; the rest of the default list stays.
POSITIVE_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "412", "422", "429", "5xx"]
#: PATCH without its required If-Match header is 428 Precondition Required (RFC 6585), as
#: documented.
MISSING_HEADER_STATUSES = ["400", "401", "403", "406", "415", "422", "428"]
MAX_EXAMPLES = 8
SEED = 20240501
SEED_CONNECTORS = [
    {
        "name": f"fuzz-{state.lower()}",
        "lifecycleStatus": state,
        "connectorType": "SALESFORCE",
        "endpointUrl": "https://acme.my.salesforce.com/services/data/v54.0",
        "authentication": {"type": "OAUTH2", "credentials": {"clientSecret": "fuzz-secret"}},
        "mappings": [{"cxoneField": "contact.id", "crmField": "Id", "direction": "INBOUND"}],
    }
    for state in ("DRAFT", "ACTIVE", "INACTIVE", "ERROR")
]


def config(token: str, phases: tuple[str, ...]) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "mode": "all"},
            "auth": {"openapi": {"bearerAuth": {"bearer": token}}},
            "phases": {
                "examples": {"enabled": "examples" in phases},
                "coverage": {"enabled": "coverage" in phases},
                "fuzzing": {"enabled": "fuzzing" in phases},
                "stateful": {"enabled": "stateful" in phases, "max-steps": 10},
            },
            "checks": {
                "positive_data_acceptance": {"expected-statuses": POSITIVE_STATUSES},
                "missing_required_header": {"expected-statuses": MISSING_HEADER_STATUSES},
            },
        }
    )


def unique_mappings(context: Any, case: Any) -> bool:
    """The document says cxoneField and crmField are unique per connector, which JSON
    Schema cannot express; generated bodies that break the rule are not valid input."""
    mappings = case.body.get("mappings") if isinstance(case.body, dict) else None
    if not isinstance(mappings, list):
        return True
    for key in ("cxoneField", "crmField"):
        values = [str(m.get(key)) for m in mappings if isinstance(m, dict)]
        if len(values) != len(set(values)):
            return False
    return True


def aimed(ids: list[str]) -> Callable[[Any, Any], Any]:
    """Point valid cases in turn at nothing in particular and at each of `ids` (connectors,
    one per lifecycle state), every other one with `If-Match: *`, so the run reaches
    validation, lifecycle rules and sync jobs, not only 404s and 412s. Also give each
    Idempotency-Key a fresh suffix: generated keys repeat across different bodies, which the
    API rightly answers 422 (reuse is tested in test_idempotency.py)."""
    turn = itertools.count()
    keys = itertools.count()

    def map_case(context: Any, case: Any) -> Any:
        headers = case.headers if isinstance(case.headers, dict) else {}
        if isinstance(headers.get("Idempotency-Key"), str):
            headers["Idempotency-Key"] = f"{headers['Idempotency-Key']}-{next(keys)}"
        meta = case.meta
        if not ids or meta is None or not meta.generation.mode.is_positive:
            return case  # an invalid case must stay invalid
        n = next(turn)
        target = n % (len(ids) + 1)
        if target < len(ids) and case.path_parameters and "id" in case.path_parameters:
            case.path_parameters["id"] = ids[target]
            if n % 2 and "If-Match" in headers:
                headers["If-Match"] = "*"
        return case

    return map_case


def schema_for(running: RunningEmulator, phases: tuple[str, ...], aim: bool) -> Any:
    """The document served by `running`; with `aim`, cases are pointed at seeded connectors
    (the stateful run needs no aim: it follows links from the connectors it creates)."""
    schema = schemathesis.openapi.from_url(
        running.base_url + "/openapi.yaml", config=config(running.control.token(), phases)
    )
    schema.hook("filter_case")(unique_mappings)
    ids = [running.control.seed(body)["id"] for body in SEED_CONNECTORS] if aim else []
    schema.hook("map_case")(aimed(ids))
    return schema


def failures(schema: Any) -> Iterator[str]:
    """Every failed check and engine error of a run, one readable line each."""
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    if check.status != Status.FAILURE:
                        continue
                    case = event.recorder.cases[case_id].value
                    interaction = event.recorder.interactions.get(case_id)
                    answer = interaction.response if interaction else None
                    info = check.failure_info
                    yield (
                        f"{check.name}: {case.method} {case.formatted_path} "
                        f"body={case.body!r:.200} → "
                        f"{answer.status_code if answer else '-'} "
                        f"{(answer.content if answer else b'')[:200]!r}: "
                        f"{info.failure.title if info else ''}"
                    )
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            yield f"engine error: {event!r:.1000}"


@pytest.mark.parametrize(("operation_id", "method", "path"), OPERATIONS)
def test_operation_conforms_to_the_openapi_document(
    emulator_factory: Factory, operation_id: str, method: str, path: str
) -> None:
    schema = schema_for(emulator_factory(), ("examples", "coverage", "fuzzing"), aim=True)
    found = sorted(set(failures(schema.include(operation_id=operation_id))))
    assert found == []


def test_stateful_run_over_every_operation_conforms(emulator_factory: Factory) -> None:
    running = emulator_factory()
    schema = schema_for(running, ("stateful",), aim=False)
    found = sorted(set(failures(schema.exclude(operation_id=WHOLE_EMULATOR))))
    assert found == []
    # The links were followed: created connectors were read, changed with the ETag of the
    # answer before, edited and deleted out of band.
    requests = running.control.stats()["requests"]
    for route in (
        "POST /api/v2/crm/connectors",
        "GET /api/v2/crm/connectors/{id}",
        "PATCH /_emulator/connectors/{id}",
    ):
        assert requests[route].get("200", 0) + requests[route].get("201", 0) > 0, route
    # A PATCH reached the ETag check with a connector the run created: applied (200) or
    # answered 412 because an out-of-band edit the run also made moved the ETag first. Which
    # of the two the seeded run hits first varied once under heavy load (a full CI run).
    patched = requests["PATCH /api/v2/crm/connectors/{id}"]
    assert patched.get("200", 0) + patched.get("412", 0) > 0, patched
    assert requests["DELETE /_emulator/connectors/{id}"].get("204", 0) > 0


def test_a_null_in_a_patch_is_documented_where_the_emulator_takes_it(
    emulator_factory: Factory,
) -> None:
    """RFC 7396: null removes a key. For each key of ConnectorPatch, the document allows null
    exactly where the emulator takes it (an out-of-band edit: no lifecycle or immutability
    rule in the way), so a client built from the document can reset a default
    (schemathesis found `version: null` taken but undocumented)."""
    from jsonschema import Draft202012Validator

    from reconciler.emulator.control import EmulatorControlError

    running = emulator_factory()
    patch_schema = Draft202012Validator({**DOCUMENT, "$ref": "#/components/schemas/ConnectorPatch"})
    differs = []
    for key in DOCUMENT["components"]["schemas"]["ConnectorPatch"]["properties"]:
        connector_id = running.control.seed(SEED_CONNECTORS[0] | {"name": f"null-{key}"})["id"]
        try:
            running.control.edit(connector_id, {key: None})
            taken = True
        except EmulatorControlError:
            taken = False
        documented = patch_schema.is_valid({key: None})
        if taken != documented:
            differs.append(f"{key}: emulator takes null {taken}, document allows it {documented}")
    assert differs == []


@pytest.mark.parametrize(
    "patch",
    [
        {"descriptoin": None},
        {"": None},
        {"authentication": {"tpye": None}},
        {"authentication": {"credentials": {"apikey": None}}},
        {"syncSettings": {"batchsize": None}},
    ],
    ids=["top", "empty", "authentication", "credentials", "syncSettings"],
)
def test_a_key_the_document_does_not_know_is_refused_even_as_null(
    emulator_factory: Factory, patch: dict[str, Any]
) -> None:
    """ConnectorPatch admits no other keys (additionalProperties: false): removing a
    misspelt key is a 400 naming it, not a silent no-op that leaves the real key in place
    (schemathesis found `{"": null}` taken), on the API and the out-of-band route alike."""
    import httpx

    running = emulator_factory()
    connector = running.control.seed(SEED_CONNECTORS[1] | {"name": "unknown-null"})
    headers = running.control.auth_headers() | {"If-Match": connector["etag"]}
    answer = httpx.patch(
        f"{running.base_url}/crm/connectors/{connector['id']}", json=patch, headers=headers
    )
    assert answer.status_code == 400, answer.text
    assert ": is not a known field" in answer.text or ": is not a credential key" in answer.text
    edit = httpx.patch(
        f"{running.control.root_url}/_emulator/connectors/{connector['id']}", json=patch
    )
    assert edit.status_code == 400, edit.text
    # Nothing changed: the ETag is the one read before.
    assert running.control.edit(connector["id"], {})["etag"] == connector["etag"]
