"""The emulator's persistent state in SQLite: connectors, sync jobs, idempotency keys, tokens.

WAL mode, one connection per thread, autocommit with explicit `BEGIN IMMEDIATE` for every
read-modify-write, so concurrent writers (threads or processes) never lose an update.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

SCHEMA_VERSION: Final = 1

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS connectors (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    revision INTEGER NOT NULL,
    etag TEXT NOT NULL,
    created_time TEXT NOT NULL,
    last_modified_time TEXT NOT NULL,
    document TEXT NOT NULL,
    public TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sync_jobs (
    sync_id TEXT PRIMARY KEY,
    connector_id TEXT NOT NULL,
    sync_type TEXT NOT NULL,
    outcome TEXT NOT NULL,
    records INTEGER NOT NULL,
    error_details TEXT,
    created_at REAL NOT NULL,
    created_time TEXT NOT NULL,
    observed_step INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    client_id TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body BLOB NOT NULL,
    headers TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (client_id, key)
);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    expires_at REAL NOT NULL
);
"""


class NameTaken(Exception):
    """Another connector already has this name (the UNIQUE constraint said so)."""


@dataclass(frozen=True, slots=True)
class ConnectorRow:
    """One stored connector. `document` keeps credential digests; `public` is the masked
    JSON representation that reads return verbatim."""

    id: str
    name: str
    revision: int
    etag: str
    created_time: str
    last_modified_time: str
    document: str
    public: str


@dataclass(frozen=True, slots=True)
class SyncRow:
    sync_id: str
    connector_id: str
    sync_type: str
    outcome: str
    records: int
    error_details: str | None
    created_at: float
    created_time: str
    observed_step: int


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """A response kept for an Idempotency-Key replay."""

    fingerprint: str
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class TokenRow:
    client_id: str
    scopes: frozenset[str]
    expires_at: float


class Tx:
    """Queries inside one transaction (or autocommit reads)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    # connectors
    def connector(self, connector_id: str) -> ConnectorRow | None:
        row = self.conn.execute(
            "SELECT id, name, revision, etag, created_time, last_modified_time, document, public "
            "FROM connectors WHERE id = ?",
            (connector_id,),
        ).fetchone()
        return None if row is None else ConnectorRow(*row)

    def public_connector(self, connector_id: str) -> tuple[str, str] | None:
        """(etag, public JSON) — the GET hot path reads nothing else."""
        row = self.conn.execute(
            "SELECT etag, public FROM connectors WHERE id = ?", (connector_id,)
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def public_page(self, skip: int, top: int, name: str | None) -> tuple[list[str], int]:
        if name is None:
            total = self.conn.execute("SELECT count(*) FROM connectors").fetchone()[0]
            rows = self.conn.execute(
                "SELECT public FROM connectors ORDER BY seq LIMIT ? OFFSET ?", (top, skip)
            ).fetchall()
        else:
            total = self.conn.execute(
                "SELECT count(*) FROM connectors WHERE name = ?", (name,)
            ).fetchone()[0]
            rows = self.conn.execute(
                "SELECT public FROM connectors WHERE name = ? ORDER BY seq LIMIT ? OFFSET ?",
                (name, top, skip),
            ).fetchall()
        return [r[0] for r in rows], int(total)

    def insert_connector(self, row: ConnectorRow) -> None:
        try:
            self.conn.execute(
                "INSERT INTO connectors (id, name, revision, etag, created_time, "
                "last_modified_time, document, public) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.id,
                    row.name,
                    row.revision,
                    row.etag,
                    row.created_time,
                    row.last_modified_time,
                    row.document,
                    row.public,
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise NameTaken(row.name) from exc

    def update_connector(self, row: ConnectorRow) -> None:
        try:
            self.conn.execute(
                "UPDATE connectors SET name = ?, revision = ?, etag = ?, last_modified_time = ?, "
                "document = ?, public = ? WHERE id = ?",
                (
                    row.name,
                    row.revision,
                    row.etag,
                    row.last_modified_time,
                    row.document,
                    row.public,
                    row.id,
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise NameTaken(row.name) from exc

    def delete_connector(self, connector_id: str) -> bool:
        cur = self.conn.execute("DELETE FROM connectors WHERE id = ?", (connector_id,))
        self.conn.execute("DELETE FROM sync_jobs WHERE connector_id = ?", (connector_id,))
        return cur.rowcount > 0

    def connector_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM connectors").fetchone()[0])

    # sync jobs
    def insert_sync(self, row: SyncRow) -> None:
        self.conn.execute(
            "INSERT INTO sync_jobs (sync_id, connector_id, sync_type, outcome, records, "
            "error_details, created_at, created_time, observed_step) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.sync_id,
                row.connector_id,
                row.sync_type,
                row.outcome,
                row.records,
                row.error_details,
                row.created_at,
                row.created_time,
                row.observed_step,
            ),
        )

    def sync(self, connector_id: str, sync_id: str) -> SyncRow | None:
        row = self.conn.execute(
            "SELECT sync_id, connector_id, sync_type, outcome, records, error_details, created_at, "
            "created_time, observed_step FROM sync_jobs WHERE sync_id = ? AND connector_id = ?",
            (sync_id, connector_id),
        ).fetchone()
        return None if row is None else SyncRow(*row)

    def observe_sync(self, sync_id: str, step: int) -> None:
        self.conn.execute(
            "UPDATE sync_jobs SET observed_step = max(observed_step, ?) WHERE sync_id = ?",
            (step, sync_id),
        )

    # idempotency keys
    def stored_response(self, client_id: str, key: str, not_before: float) -> StoredResponse | None:
        row = self.conn.execute(
            "SELECT fingerprint, status, body, headers FROM idempotency_keys "
            "WHERE client_id = ? AND key = ? AND created_at >= ?",
            (client_id, key, not_before),
        ).fetchone()
        if row is None:
            return None
        headers = tuple((str(k), str(v)) for k, v in json.loads(row[3]))
        return StoredResponse(row[0], int(row[1]), bytes(row[2]), headers)

    def store_response(
        self, client_id: str, key: str, response: StoredResponse, created_at: float
    ) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO idempotency_keys "
            "(client_id, key, fingerprint, status, body, headers, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                client_id,
                key,
                response.fingerprint,
                response.status,
                response.body,
                json.dumps(list(response.headers)),
                created_at,
            ),
        )

    def forget_responses_before(self, not_before: float) -> None:
        self.conn.execute("DELETE FROM idempotency_keys WHERE created_at < ?", (not_before,))

    # tokens (only their SHA-256 is stored: a token file is no token leak)
    def insert_token(self, token_hash: str, token: TokenRow) -> None:
        self.conn.execute(
            "INSERT INTO tokens (token_hash, client_id, scopes, expires_at) VALUES (?, ?, ?, ?)",
            (token_hash, token.client_id, " ".join(sorted(token.scopes)), token.expires_at),
        )

    def token(self, token_hash: str) -> TokenRow | None:
        row = self.conn.execute(
            "SELECT client_id, scopes, expires_at FROM tokens WHERE token_hash = ?", (token_hash,)
        ).fetchone()
        if row is None:
            return None
        return TokenRow(row[0], frozenset(row[1].split()), float(row[2]))

    def forget_tokens_before(self, expires_before: float) -> None:
        self.conn.execute("DELETE FROM tokens WHERE expires_at < ?", (expires_before,))


class Store:
    """Opens (and creates) the database; hands out one connection per thread."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        conn = self._conn()
        conn.executescript(SCHEMA)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=10.0
            )
            conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL is durable across application crashes in WAL mode; only an OS crash
            # can lose the last commits, which is fine for an emulator.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA busy_timeout = 10000")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def read(self) -> Tx:
        """Autocommit queries: each statement sees a consistent snapshot."""
        return Tx(self._conn())

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """One write transaction, taken with BEGIN IMMEDIATE so reads inside it are current."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield Tx(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def reset(self, tokens: bool = False) -> None:
        """Forget all connectors, sync jobs and idempotency keys (and tokens if asked)."""
        with self.write() as tx:
            tx.conn.execute("DELETE FROM connectors")
            tx.conn.execute("DELETE FROM sync_jobs")
            tx.conn.execute("DELETE FROM idempotency_keys")
            if tokens:
                tx.conn.execute("DELETE FROM tokens")

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()
