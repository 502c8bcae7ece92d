"""CRM data-sync jobs: `POST …/{id}/sync` → 202 {syncId}; `GET …/sync/{syncId}` polls it.

A job steps PENDING → RUNNING → COMPLETED|FAILED every `sync_step_s` seconds and at least one
step per poll, so it is fast and deterministic. Connector labels steer the outcome (below).
"""

from __future__ import annotations

import math
from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from reconciler.emulator.api import (
    CONNECTORS,
    idempotent,
    json_response,
    principal_of,
    read_body,
    replay,
    runtime_of,
)
from reconciler.emulator.problem import ApiProblem, dumps, not_found
from reconciler.emulator.request_checks import check_content_type, check_idempotency_key
from reconciler.emulator.resource import fingerprint, iso, load_document, new_sync_id
from reconciler.emulator.store import StoredResponse, SyncRow, Tx
from reconciler.emulator.validation import check_sync_request

#: Label that decides a job's outcome: "FAILED" makes every sync of the connector fail.
OUTCOME_LABEL: Final = "emulator/sync-outcome"
#: Label with the number of records a job reports (default: 250 per mapping, 25 if INCREMENTAL).
RECORDS_LABEL: Final = "emulator/sync-records"
#: Label with the errorDetails text of a failed job.
ERROR_LABEL: Final = "emulator/sync-error"
DEFAULT_ERROR: Final = "CRM endpoint returned 503 Service Unavailable (emulated failure)"
STATES: Final = ("PENDING", "RUNNING")


async def start_sync(request: Request) -> Response:
    runtime = runtime_of(request)
    check_content_type(request.headers.get("content-type"), ("application/json",))
    body = await read_body(request, runtime.config.max_body_bytes)
    sync_type = check_sync_request(body)
    key = request.headers.get("idempotency-key")
    if key is not None:
        check_idempotency_key(key)
    connector_id = request.path_params["id"]
    request_fp = fingerprint("POST", request.url.path, body)
    now = runtime.clock.now()

    def start(tx: Tx) -> StoredResponse:
        row = tx.connector(connector_id)
        if row is None:
            raise not_found(f"connector {connector_id}")
        doc = load_document(row)
        if doc["lifecycleStatus"] != "ACTIVE":
            raise ApiProblem(
                409,
                "connector_not_active",
                f"connector {row.name!r} is {doc['lifecycleStatus']}; only ACTIVE connectors "
                "sync — set lifecycleStatus to ACTIVE first",
            )
        labels: dict[str, str] = doc["labels"]
        failed = labels.get(OUTCOME_LABEL, "").upper() == "FAILED"
        per_mapping = 250 if sync_type == "FULL" else 25
        records = per_mapping * max(1, len(doc["mappings"]))
        raw_records = labels.get(RECORDS_LABEL, "")
        if raw_records.isdigit():
            records = int(raw_records)
        job = SyncRow(
            sync_id=new_sync_id(),
            connector_id=connector_id,
            sync_type=sync_type,
            outcome="FAILED" if failed else "COMPLETED",
            records=records // 3 if failed else records,
            error_details=labels.get(ERROR_LABEL, DEFAULT_ERROR) if failed else None,
            created_at=now,
            created_time=iso(now),
            observed_step=0,
        )
        tx.insert_sync(job)
        location = f"{request.base_url}{CONNECTORS.lstrip('/')}/{connector_id}/sync/{job.sync_id}"
        payload = {
            "syncId": job.sync_id,
            "connectorId": connector_id,
            "syncType": sync_type,
            "status": "PENDING",
        }
        return StoredResponse(request_fp, 202, dumps(payload), (("Location", location),))

    stored = idempotent(runtime, principal_of(request).client_id, key, request_fp, start)
    return replay(stored)


async def get_sync(request: Request) -> Response:
    runtime = runtime_of(request)
    connector_id, sync_id = request.path_params["id"], request.path_params["syncId"]
    with runtime.store.write() as tx:
        job = tx.sync(connector_id, sync_id)
        if job is None:
            raise not_found(f"sync job {sync_id} of connector {connector_id}")
        step_s = runtime.knobs.sync_step_s
        elapsed = runtime.clock.now() - job.created_at
        by_time = math.floor(elapsed / step_s) if step_s > 0 else 2
        step = min(2, max(by_time, job.observed_step))
        tx.observe_sync(sync_id, step + 1)
    status = STATES[step] if step < 2 else job.outcome
    records = {0: 0, 1: job.records // 2}.get(step, job.records)
    payload = {
        "syncId": job.sync_id,
        "connectorId": job.connector_id,
        "syncType": job.sync_type,
        "status": status,
        "recordsProcessed": records,
        "errorDetails": job.error_details if status == "FAILED" else None,
        "createdTime": job.created_time,
    }
    return json_response(dumps(payload))
