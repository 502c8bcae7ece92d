"""State survives restarts, and concurrent writers never lose an update."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from reconciler.emulator.store import Store
from reconciler.testing import ApiClient, RunningEmulator, api_client

Body = Callable[..., dict[str, Any]]


def test_connectors_tokens_and_etags_survive_a_restart(
    emulator_factory: Callable[..., RunningEmulator], tmp_path: Path, body: Body
) -> None:
    db = tmp_path / "state.sqlite"
    first = emulator_factory(db_path=db)
    token = first.control.token()
    with api_client(first) as api:
        created = api.create(body())
        api.post(f"/crm/connectors/{created.json()['id']}/sync", json={"syncType": "FULL"})
    first.stop()

    second = emulator_factory(db_path=db)
    with httpx.Client(
        base_url=second.base_url, headers={"Authorization": f"Bearer {token}"}
    ) as again:
        fetched = again.get(f"/crm/connectors/{created.json()['id']}")
    assert fetched.status_code == 200
    assert fetched.headers["ETag"] == created.headers["ETag"]
    assert fetched.json() == created.json()


def test_concurrent_patches_with_the_same_etag_exactly_one_wins(
    emulator: RunningEmulator, body: Body
) -> None:
    with api_client(emulator) as api:
        created = api.create(body())
    url = f"/crm/connectors/{created.json()['id']}"
    etag = created.headers["ETag"]
    headers = {**emulator.control.auth_headers(), "If-Match": etag}
    start = threading.Barrier(16)

    def attempt(i: int) -> int:
        with httpx.Client(base_url=emulator.base_url, headers=headers, timeout=10) as http:
            start.wait()
            return http.patch(url, json={"description": f"writer {i}"}).status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(attempt, range(16)))
    assert sorted(statuses) == [200] + [412] * 15
    with api_client(emulator) as api:
        final = api.get(url).json()
    assert final["description"].startswith("writer ")


def test_concurrent_label_writes_from_two_processes_worth_of_stores_all_land(
    tmp_path: Path, emulator_factory: Callable[..., RunningEmulator], body: Body
) -> None:
    """Two emulators over one file (as two processes would be): read-modify-write with
    If-Match retries on both never loses a label."""
    db = tmp_path / "shared.sqlite"
    a, b = emulator_factory(db_path=db), emulator_factory(db_path=db)
    with api_client(a) as api:
        cid = api.create(body(labels={})).json()["id"]

    def add_label(running: RunningEmulator, key: str) -> None:
        with api_client(running) as api:
            while True:
                current = api.get(f"/crm/connectors/{cid}")
                response = api.patch(
                    f"/crm/connectors/{cid}",
                    json={"labels": {key: "1"}},
                    headers={"If-Match": current.headers["ETag"]},
                )
                if response.status_code == 200:
                    return
                assert response.status_code == 412

    keys = [f"k{i}" for i in range(20)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: add_label((a, b)[i % 2], keys[i]), range(len(keys))))
    with api_client(b) as api:
        labels = api.get(f"/crm/connectors/{cid}").json()["labels"]
    assert sorted(labels) == sorted(keys)


def test_store_write_rolls_back_on_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    try:
        try:
            with store.write() as tx:
                tx.conn.execute(
                    "INSERT INTO tokens (token_hash, client_id, scopes, expires_at) "
                    "VALUES ('h', 'c', '', 0)"
                )
                raise RuntimeError("boom")
        except RuntimeError:
            pass
        assert store.read().token("h") is None
    finally:
        store.close()


def test_api_client_fixture_is_isolated_per_test(api: ApiClient) -> None:
    assert api.get("/crm/connectors").json()["totalRecords"] == 0
