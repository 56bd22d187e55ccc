"""The store's schema as ordered, versioned migration steps on ``PRAGMA user_version``.

A store at version v gets every step after v, in order, in ONE write
transaction (so a kill mid-upgrade leaves the old version intact, and two
processes opening an old store at once upgrade it once). A new table or
column is a new :class:`Step` appended to :data:`STEPS`; steps are never
edited once released, because stores written with them exist.

Step 3 turns the hard-coded ``CHECK`` lists of run kinds and statuses into
the tables ``run_kinds`` and ``run_statuses``: a new kind (``population``,
``arena``, ``audit``, ``reproduce``) is one ``INSERT`` in a later step. It
also adds run leases, per-run metadata (provenance, data hashes, options)
and the store's random identity.

Step 4 makes a lineage a *member* of a population and the store compact:

* ``lineages (id, run_id, arm, replicate, member)``: one row per member lineage, an integer id;
* ``metric_names (id, name)``: every metric name once;
* ``metrics (lineage, generation, name, value)`` ``WITHOUT ROWID``: a record costs tens of
  bytes instead of ~1.4 kB (40,800 records of 11 metrics: 56 MB before, ~12 MB after);
* ``generations``, ``samples`` and ``distributions`` gain a ``member`` key column (0 for every
  record written before), ``generations`` ``WITHOUT ROWID``, and record statuses become the
  table ``record_statuses`` (``ok``, ``diverged``, ``failed``, ``error``);
* ``parents (run_id, arm, replicate, member, generation, parent, kind, weight)``: the genealogy,
  what a population's couplings did to each member each generation;
* the view ``metric_rows (run_id, arm, replicate, member, generation, name, value)`` reads like
  the old long ``metrics`` table, for SQL users.
"""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass
from typing import Callable

#: ``PRAGMA application_id`` of a redqueen store ("rdqu"); set from step 3 on
APPLICATION_ID = 0x72647175


@dataclass(frozen=True)
class Step:
    version: int
    what: str
    apply: Callable[[sqlite3.Connection], None]


def _sql(script: str) -> Callable[[sqlite3.Connection], None]:
    def run(c: sqlite3.Connection) -> None:
        stmt = ""
        for part in script.split(";"):  # a ';' inside a string literal does not end a statement
            stmt += part + ";"
            if sqlite3.complete_statement(stmt):
                if stmt.strip(" \n;"):
                    c.execute(stmt)
                stmt = ""

    return run


_V1 = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created TEXT NOT NULL,
    finished TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'interrupted')),
    kind TEXT NOT NULL CHECK (kind IN ('collapse', 'evolve', 'theory')),
    config TEXT NOT NULL,
    seed INTEGER NOT NULL,
    version TEXT NOT NULL,
    git_commit TEXT,
    python TEXT NOT NULL,
    platform TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS arms (
    run_id TEXT NOT NULL REFERENCES runs(id),
    arm TEXT NOT NULL,
    position INTEGER NOT NULL,
    description TEXT NOT NULL,
    PRIMARY KEY (run_id, arm)
);
CREATE TABLE IF NOT EXISTS generations (
    run_id TEXT NOT NULL REFERENCES runs(id),
    arm TEXT NOT NULL,
    replicate INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    seconds REAL NOT NULL,
    train_size INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'diverged')),
    reason TEXT NOT NULL,
    PRIMARY KEY (run_id, arm, replicate, generation)
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL,
    arm TEXT NOT NULL,
    replicate INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    name TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (run_id, arm, replicate, generation, name),
    FOREIGN KEY (run_id, arm, replicate, generation) REFERENCES generations
);
CREATE TABLE IF NOT EXISTS samples (
    run_id TEXT NOT NULL,
    arm TEXT NOT NULL,
    replicate INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (run_id, arm, replicate, generation, idx),
    FOREIGN KEY (run_id, arm, replicate, generation) REFERENCES generations
)
"""

_V2 = """
CREATE TABLE IF NOT EXISTS distributions (
    run_id TEXT NOT NULL,
    arm TEXT NOT NULL,
    replicate INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    name TEXT NOT NULL,
    float32 BLOB NOT NULL,
    PRIMARY KEY (run_id, arm, replicate, generation, name),
    FOREIGN KEY (run_id, arm, replicate, generation) REFERENCES generations
)
"""

_V3 = """
CREATE TABLE run_kinds (kind TEXT PRIMARY KEY, description TEXT NOT NULL);
INSERT INTO run_kinds VALUES
    ('collapse', 'arms x replicates x generations of the self-consuming loop (redqueen run / sweep)'),
    ('evolve', 'evolution strategies on a task; generation = forward passes (redqueen evolve)'),
    ('theory', 'replicates simulated to compare with closed-form theory (redqueen theory)');
CREATE TABLE run_statuses (status TEXT PRIMARY KEY, description TEXT NOT NULL);
INSERT INTO run_statuses VALUES
    ('running', 'being written; live while its lease is held, killed once the owner is gone'),
    ('done', 'every record written and checked'),
    ('failed', 'stopped by an error (reason stored); resume continues it'),
    ('interrupted', 'stopped by Ctrl-C or SIGTERM, or marked for repair; resume continues it');
CREATE TABLE runs_v3 (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created TEXT NOT NULL,
    finished TEXT,
    status TEXT NOT NULL REFERENCES run_statuses(status),
    kind TEXT NOT NULL REFERENCES run_kinds(kind),
    config TEXT NOT NULL,
    seed INTEGER NOT NULL,
    version TEXT NOT NULL,
    git_commit TEXT,
    python TEXT NOT NULL,
    platform TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT ''
);
INSERT INTO runs_v3 (id, name, created, finished, status, kind, config, seed, version, git_commit, python, platform)
    SELECT id, name, created, finished, status, kind, config, seed, version, git_commit, python, platform FROM runs;
DROP TABLE runs;
ALTER TABLE runs_v3 RENAME TO runs;
CREATE TABLE run_meta (
    run_id TEXT NOT NULL REFERENCES runs(id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);
CREATE TABLE leases (
    key TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    pid INTEGER NOT NULL,
    pid_start TEXT NOT NULL,
    host TEXT NOT NULL,
    boot TEXT NOT NULL,
    user TEXT NOT NULL,
    acquired TEXT NOT NULL,
    heartbeat REAL NOT NULL
);
CREATE TABLE store_info (key TEXT PRIMARY KEY, value TEXT NOT NULL)
"""


_V4 = """
CREATE TABLE record_statuses (status TEXT PRIMARY KEY, description TEXT NOT NULL);
INSERT INTO record_statuses VALUES
    ('ok', 'measured normally'),
    ('diverged', 'the model blew up numerically (reason stored); its population stopped'),
    ('failed', 'a plug-in raised or memory ran out (reason stored); its population stopped'),
    ('error', 'a bug in redqueen (reason stored); its population stopped');
CREATE TABLE lineages (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id),
    arm TEXT NOT NULL,
    replicate INTEGER NOT NULL,
    member INTEGER NOT NULL DEFAULT 0,
    UNIQUE (run_id, arm, replicate, member)
);
CREATE TABLE metric_names (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE generations_v4 (
    run_id TEXT NOT NULL REFERENCES runs(id),
    arm TEXT NOT NULL,
    replicate INTEGER NOT NULL,
    member INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    seconds REAL NOT NULL,
    train_size INTEGER NOT NULL,
    status TEXT NOT NULL REFERENCES record_statuses(status),
    reason TEXT NOT NULL,
    PRIMARY KEY (run_id, arm, replicate, member, generation)
) WITHOUT ROWID;
CREATE TABLE metrics_v4 (
    lineage INTEGER NOT NULL REFERENCES lineages(id),
    generation INTEGER NOT NULL,
    name INTEGER NOT NULL REFERENCES metric_names(id),
    value REAL,
    PRIMARY KEY (lineage, generation, name)
) WITHOUT ROWID;
CREATE TABLE samples_v4 (
    run_id TEXT NOT NULL,
    arm TEXT NOT NULL,
    replicate INTEGER NOT NULL,
    member INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (run_id, arm, replicate, member, generation, idx),
    FOREIGN KEY (run_id, arm, replicate, member, generation) REFERENCES generations
);
CREATE TABLE distributions_v4 (
    run_id TEXT NOT NULL,
    arm TEXT NOT NULL,
    replicate INTEGER NOT NULL,
    member INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    name TEXT NOT NULL,
    float32 BLOB NOT NULL,
    PRIMARY KEY (run_id, arm, replicate, member, generation, name),
    FOREIGN KEY (run_id, arm, replicate, member, generation) REFERENCES generations
);
CREATE TABLE parents (
    run_id TEXT NOT NULL,
    arm TEXT NOT NULL,
    replicate INTEGER NOT NULL,
    member INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    parent INTEGER NOT NULL,
    kind TEXT NOT NULL,
    weight REAL NOT NULL,
    PRIMARY KEY (run_id, arm, replicate, member, generation, parent, kind),
    FOREIGN KEY (run_id, arm, replicate, member, generation) REFERENCES generations
) WITHOUT ROWID;
INSERT INTO lineages (run_id, arm, replicate, member)
    SELECT run_id, arm, replicate, 0 FROM generations GROUP BY run_id, arm, replicate ORDER BY MIN(rowid);
INSERT INTO metric_names (name) SELECT name FROM metrics GROUP BY name ORDER BY MIN(rowid);
INSERT INTO generations_v4 SELECT run_id, arm, replicate, 0, generation, seconds, train_size, status, reason
    FROM generations ORDER BY rowid;
INSERT INTO metrics_v4 (lineage, generation, name, value)
    SELECT l.id, m.generation, n.id, m.value FROM metrics m
    JOIN lineages l ON l.run_id = m.run_id AND l.arm = m.arm AND l.replicate = m.replicate AND l.member = 0
    JOIN metric_names n ON n.name = m.name;
INSERT INTO samples_v4 SELECT run_id, arm, replicate, 0, generation, idx, text FROM samples ORDER BY rowid;
INSERT INTO distributions_v4 SELECT run_id, arm, replicate, 0, generation, name, float32 FROM distributions ORDER BY rowid;
DROP TABLE samples;
DROP TABLE distributions;
DROP TABLE metrics;
DROP TABLE generations;
ALTER TABLE generations_v4 RENAME TO generations;
ALTER TABLE metrics_v4 RENAME TO metrics;
ALTER TABLE samples_v4 RENAME TO samples;
ALTER TABLE distributions_v4 RENAME TO distributions;
CREATE VIEW metric_rows AS
    SELECT l.run_id AS run_id, l.arm AS arm, l.replicate AS replicate, l.member AS member,
           m.generation AS generation, n.name AS name, m.value AS value
    FROM metrics m JOIN lineages l ON l.id = m.lineage JOIN metric_names n ON n.id = m.name
"""


def _v3(c: sqlite3.Connection) -> None:
    _sql(_V3)(c)
    c.execute("INSERT INTO store_info VALUES ('id', ?)", (secrets.token_hex(16),))
    c.execute(f"PRAGMA application_id = {APPLICATION_ID}")


#: every schema step, oldest first; append new ones here (and never change released ones)
STEPS: tuple[Step, ...] = (
    Step(1, "runs, arms, generations, metrics, samples", _sql(_V1)),
    Step(2, "distributions: per-item values as float32 blobs", _sql(_V2)),
    Step(3, "run kinds and statuses as tables, run reasons, leases, run metadata, store identity", _v3),
    Step(4, "population members, the genealogy, record statuses as a table, compact metrics", _sql(_V4)),
)
LATEST = STEPS[-1].version

#: the tables and columns of a version-0 store written before versions were stamped
_LEGACY_RUN_COLUMNS = {"id", "name", "created", "status", "kind", "config", "seed", "version"}


def looks_foreign(c: sqlite3.Connection, version: int) -> str | None:
    """Why this database is not a redqueen store (None when it is one, or empty)."""
    (app,) = c.execute("PRAGMA application_id").fetchone()
    if app not in (0, APPLICATION_ID):
        return f"its application id is {app:#x}, another program's"
    tables = {t for (t,) in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables or app == APPLICATION_ID:
        return None
    cols = {row[1] for row in c.execute("PRAGMA table_info(runs)")} if "runs" in tables else set()
    if not _LEGACY_RUN_COLUMNS <= cols or "generations" not in tables:
        return f"it holds tables {', '.join(sorted(tables)[:6])} but not redqueen's runs and generations"
    return None


#: Released redqueen (before leases) stamped a different schema 3: version 2's tables with compact metrics
#: (lineages, metric_names, metrics keyed by lineage, generations WITHOUT ROWID, the view metric_rows) and none
#: of step 3's tables. Such a store is first spelt back out into version 2's tables, then takes steps 3 and 4.
_COMPACT_3_TO_2 = """
CREATE TABLE metrics_v2 (
    run_id TEXT NOT NULL,
    arm TEXT NOT NULL,
    replicate INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    name TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (run_id, arm, replicate, generation, name),
    FOREIGN KEY (run_id, arm, replicate, generation) REFERENCES generations
);
CREATE TABLE generations_v2 (
    run_id TEXT NOT NULL REFERENCES runs(id),
    arm TEXT NOT NULL,
    replicate INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    seconds REAL NOT NULL,
    train_size INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'diverged')),
    reason TEXT NOT NULL,
    PRIMARY KEY (run_id, arm, replicate, generation)
);
INSERT INTO generations_v2 SELECT g.* FROM generations g
    LEFT JOIN lineages l ON l.run_id = g.run_id AND l.arm = g.arm AND l.replicate = g.replicate
    ORDER BY l.id IS NULL, l.id, g.run_id, g.arm, g.replicate, g.generation;
INSERT INTO metrics_v2 SELECT l.run_id, l.arm, l.replicate, m.generation, n.name, m.value
    FROM metrics m JOIN lineages l ON l.id = m.lineage JOIN metric_names n ON n.id = m.name
    ORDER BY m.lineage, m.generation, m.name;
DROP VIEW metric_rows;
DROP TABLE metrics;
DROP TABLE generations;
DROP TABLE metric_names;
DROP TABLE lineages;
ALTER TABLE generations_v2 RENAME TO generations;
ALTER TABLE metrics_v2 RENAME TO metrics
"""


def _compact_3(c: sqlite3.Connection, version: int) -> bool:
    """Whether this is released redqueen's compact schema 3 (see :data:`_COMPACT_3_TO_2`)."""
    if version != 3:
        return False
    names = {t for (t,) in c.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    return "lineages" in names and "run_kinds" not in names


def migrate(c: sqlite3.Connection) -> int:
    """Bring the store to :data:`LATEST` inside the caller's write transaction; returns the old version.

    Foreign keys must be off on this connection (SQLite cannot rebuild a referenced table otherwise).
    """
    (version,) = c.execute("PRAGMA user_version").fetchone()
    if _compact_3(c, version):
        _sql(_COMPACT_3_TO_2)(c)
        version = 2
    for step in STEPS:
        if step.version > version:
            step.apply(c)
    if version < LATEST:
        bad = c.execute("PRAGMA foreign_key_check").fetchall()
        if bad:  # rolls the whole upgrade back: the store stays at its old version
            raise sqlite3.IntegrityError(f"the schema upgrade left {len(bad)} dangling references (first: {bad[0]})")
        c.execute(f"PRAGMA user_version = {LATEST}")
    return version


#: the first version whose upgrade rebuilds the big tables: opening an older store with data VACUUMs it after
REBUILT_AT = 4
