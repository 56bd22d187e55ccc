"""Store schema 3: compact metrics, so that a night of sweeps stays small.

Schema 2 stored one ``metrics`` row per metric of a generation with the run id, arm and metric
name spelt out in it and again in its primary-key index: 40,800 records (200 replicates x 4 arms
x 51 generations, 11 metrics each) took 56 MB. Schema 3:

* ``lineages (id, run_id, arm, replicate)``: one row per lineage, an integer id for the rest;
* ``metric_names (id, name)``: every metric name once, referenced by integer id;
* ``metrics (lineage, generation, name, value)``, ``WITHOUT ROWID``: the key is the table, with
  no second index (NaN is still NULL, +-inf still themselves);
* ``generations`` ``WITHOUT ROWID`` with the same columns and key (no separate key index);
* the view ``metric_rows (run_id, arm, replicate, generation, name, value)`` reads like
  schema 2's long ``metrics`` table, for SQL users.

:func:`migrate_2_to_3` turns a schema-2 database into schema 3 inside the caller's transaction
(the caller turns foreign keys off around it, as SQLite's table-rebuild procedure asks).
"""

from __future__ import annotations

import sqlite3

VERSION = 3

TABLES = """
CREATE TABLE lineages (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id),
    arm TEXT NOT NULL,
    replicate INTEGER NOT NULL,
    UNIQUE (run_id, arm, replicate)
);
CREATE TABLE metric_names (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE metrics_v3 (
    lineage INTEGER NOT NULL REFERENCES lineages(id),
    generation INTEGER NOT NULL,
    name INTEGER NOT NULL REFERENCES metric_names(id),
    value REAL,
    PRIMARY KEY (lineage, generation, name)
) WITHOUT ROWID;
CREATE TABLE generations_v3 (
    run_id TEXT NOT NULL REFERENCES runs(id),
    arm TEXT NOT NULL,
    replicate INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    seconds REAL NOT NULL,
    train_size INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'diverged')),
    reason TEXT NOT NULL,
    PRIMARY KEY (run_id, arm, replicate, generation)
) WITHOUT ROWID;
"""

COPY = """
INSERT INTO lineages (run_id, arm, replicate)
    SELECT run_id, arm, replicate FROM generations GROUP BY run_id, arm, replicate ORDER BY MIN(rowid);
INSERT INTO metric_names (name) SELECT name FROM metrics GROUP BY name ORDER BY MIN(rowid);
INSERT INTO metrics_v3 (lineage, generation, name, value)
    SELECT l.id, m.generation, n.id, m.value FROM metrics m
    JOIN lineages l ON l.run_id = m.run_id AND l.arm = m.arm AND l.replicate = m.replicate
    JOIN metric_names n ON n.name = m.name;
INSERT INTO generations_v3 SELECT run_id, arm, replicate, generation, seconds, train_size, status, reason
    FROM generations ORDER BY rowid;
DROP TABLE metrics;
DROP TABLE generations;
ALTER TABLE metrics_v3 RENAME TO metrics;
ALTER TABLE generations_v3 RENAME TO generations;
CREATE VIEW metric_rows AS
    SELECT l.run_id AS run_id, l.arm AS arm, l.replicate AS replicate, m.generation AS generation,
           n.name AS name, m.value AS value
    FROM metrics m JOIN lineages l ON l.id = m.lineage JOIN metric_names n ON n.id = m.name;
"""


def migrate_2_to_3(conn: sqlite3.Connection) -> None:
    """Rebuild schema 2's ``metrics`` and ``generations`` as schema 3, in the open transaction.

    Foreign keys must be off (``PRAGMA foreign_keys`` cannot change inside a transaction): the
    old parent table ``generations`` is dropped while ``samples`` and ``distributions`` still name
    it; they refer to the rebuilt table once it is renamed. Raises ``sqlite3.IntegrityError`` if
    a reference is left dangling, so the caller's transaction rolls back.
    """
    for script in (TABLES, COPY):
        for stmt in script.split(";"):
            if stmt.strip():
                conn.execute(stmt)
    bad = conn.execute("PRAGMA foreign_key_check").fetchall()
    if bad:
        raise sqlite3.IntegrityError(f"schema 3 migration left {len(bad)} dangling references (first: {bad[0]})")
