"""Durable object store: sqlite in WAL mode with synchronous=FULL, mirrored in memory.

etcd's promise is what the lab relies on: a write a client was told about survives a
crash, and `down`/`up` keeps everything. Each write is one sqlite transaction that bumps
the global resourceVersion and replaces the object row; the method returns only after
COMMIT. Reads are served from the in-memory mirror, loaded once at start.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

Key = tuple[str, str, str]  # (resource key "group/plural", namespace, name)


class Store:
    def __init__(self, path: Path | str):
        self.path = str(path)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS objects (res TEXT NOT NULL, ns TEXT NOT NULL, "
            "name TEXT NOT NULL, rv INTEGER NOT NULL, data TEXT NOT NULL, "
            "PRIMARY KEY (res, ns, name))")
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
        self.db.execute("INSERT OR IGNORE INTO meta (k, v) VALUES ('rv', 1)")
        self.rv: int = self.db.execute("SELECT v FROM meta WHERE k='rv'").fetchone()[0]
        self.objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        for res, ns, name, data in self.db.execute("SELECT res, ns, name, data FROM objects"):
            self.objects.setdefault(res, {})[(ns, name)] = json.loads(data)

    def close(self) -> None:
        self.db.close()

    def get(self, res: str, ns: str, name: str) -> dict[str, Any] | None:
        obj = self.objects.get(res, {}).get((ns, name))
        return copy.deepcopy(obj) if obj is not None else None

    def peek(self, res: str, ns: str, name: str) -> dict[str, Any] | None:
        """The stored object itself, not a copy: callers must not mutate it."""
        return self.objects.get(res, {}).get((ns, name))

    def items(self, res: str, ns: str | None = None) -> Iterator[dict[str, Any]]:
        """Objects of a resource sorted by (namespace, name); not copies."""
        table = self.objects.get(res, {})
        for key in sorted(table):
            if ns is None or key[0] == ns:
                yield table[key]

    def put(self, res: str, ns: str, name: str, obj: dict[str, Any]) -> int:
        """Write `obj` with the next resourceVersion (set in place); durable on return."""
        rv = self.rv + 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(rv)
        data = json.dumps(obj, separators=(",", ":"))
        with self._txn():
            self.db.execute("UPDATE meta SET v=? WHERE k='rv'", (rv,))
            self.db.execute(
                "INSERT OR REPLACE INTO objects (res, ns, name, rv, data) VALUES (?,?,?,?,?)",
                (res, ns, name, rv, data))
        self.rv = rv
        self.objects.setdefault(res, {})[(ns, name)] = json.loads(data)
        return rv

    def remove(self, res: str, ns: str, name: str) -> int:
        """Delete a row; the deletion itself gets a resourceVersion, as in etcd."""
        rv = self.rv + 1
        with self._txn():
            self.db.execute("UPDATE meta SET v=? WHERE k='rv'", (rv,))
            self.db.execute("DELETE FROM objects WHERE res=? AND ns=? AND name=?", (res, ns, name))
        self.rv = rv
        self.objects.get(res, {}).pop((ns, name), None)
        return rv

    def _txn(self) -> _Txn:
        return _Txn(self.db)


class _Txn:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
