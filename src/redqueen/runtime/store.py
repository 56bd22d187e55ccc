"""The results store: one SQLite file per results folder.

Every run of every kind lands in the same six tables, so the report, the
CLI and exports read one thing:

* ``runs``: one row per run, with its provenance (the validated config as
  JSON, the seed actually used, package version, git commit, Python,
  platform) and a status ``running`` / ``done`` / ``failed`` /
  ``interrupted``;
* ``arms``: the arms a run compares, each with a JSON description;
* ``generations``: one row per (run, arm, replicate, generation);
* ``metrics``: long format, one row per metric of a generation row, keyed by integer ids of
  the lineage (table ``lineages``) and of the metric name (table ``metric_names``), so a
  record costs tens of bytes (schema 3, :mod:`redqueen.runtime.store_compact`; the view
  ``metric_rows`` spells the ids out). NaN is stored as NULL (SQLite cannot hold NaN) and read
  back as NaN; +-inf are stored as themselves;
* ``samples``: the readable samples of a generation;
* ``distributions``: per-item values of a generation as float32 blobs (for
  text, each sample's perplexity under the generation-0 model), one row per
  name.

Evolution curves use the same tables: a record with fields ``method``,
``seed``, ``forward_passes``, ``best_train_acc``, ``test_acc``, ``seconds``
is stored as arm = method, replicate = seed, generation = forward passes,
metrics ``train_acc`` and ``test_acc`` (see :func:`evolve_record`).

Concurrency: the database runs in WAL mode with a 30 s busy timeout; every
write is one short ``BEGIN IMMEDIATE`` transaction and every read one
snapshot, so several processes may append to one store at once and a reader
never sees half a generation. A :class:`Store` may be pickled (it reopens
its connection on the other side) and reopens after ``fork``.
"""

from __future__ import annotations

import csv
import datetime as _dt
import difflib
import json
import math
import numbers
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, NamedTuple

import numpy as np

from redqueen.runtime import store_compact
from redqueen.runtime.provenance import new_run_id, provenance

if TYPE_CHECKING:
    from redqueen.loop.record import GenerationRecord

DEFAULT_FOLDER = Path("redqueen-runs")
DB_NAME = "runs.db"
RUN_STATUSES = ("running", "done", "failed", "interrupted")
RUN_KINDS = ("collapse", "evolve", "theory")
RECORD_STATUSES = ("ok", "diverged")
BUSY_TIMEOUT_S = 30.0
SCHEMA_VERSION = store_compact.VERSION  # PRAGMA user_version; bump with a migration when the tables change
FIXED_COLUMNS = ("arm", "replicate", "generation", "seconds", "train_size", "status", "reason")

# schema 2, the base every store is created from and then migrated (see Store._upgrade)
SCHEMA = """
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
);
CREATE TABLE IF NOT EXISTS distributions (
    run_id TEXT NOT NULL,
    arm TEXT NOT NULL,
    replicate INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    name TEXT NOT NULL,
    float32 BLOB NOT NULL,
    PRIMARY KEY (run_id, arm, replicate, generation, name),
    FOREIGN KEY (run_id, arm, replicate, generation) REFERENCES generations
);
"""


class UnknownRun(KeyError):
    """A run id that is not in the store (or a prefix matching several); the message lists close ids."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class RunInfo:
    """One row of ``runs``; ``n_records`` counts its generation rows."""

    id: str
    name: str
    kind: str
    created: str
    status: str
    seed: int
    version: str
    n_records: int
    finished: str | None = None
    commit: str | None = None
    python: str = ""
    platform: str = ""
    config: dict = field(default_factory=dict)
    arms: tuple[tuple[str, dict], ...] = ()


class MetricRow(NamedTuple):
    arm: str
    replicate: int
    generation: int
    name: str
    value: float


class Row(NamedTuple):
    """One generation of one lineage as :meth:`Store.iter_rows` streams it (metrics: name -> value, NaN as NaN)."""

    arm: str
    replicate: int
    generation: int
    status: str
    reason: str
    metrics: dict[str, float]


class SampleRow(NamedTuple):
    arm: str
    replicate: int
    generation: int
    idx: int
    text: str


class DistributionRow(NamedTuple):
    arm: str
    replicate: int
    generation: int
    name: str
    values: np.ndarray  # float32, one value per item


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in a run's JSON; pass plain dicts, lists, str and numbers")


def to_json(obj: Any) -> str:
    return json.dumps(obj, default=_json_default, sort_keys=True)


# --- records ----------------------------------------------------------------------------------------


def _record_class() -> type[GenerationRecord]:
    # imported on use: the loop pulls in every model family (scikit-learn, scipy), which listing runs does not need
    from redqueen.loop.record import GenerationRecord

    return GenerationRecord


def evolve_record(rec: Any) -> GenerationRecord:
    """An evolution-curve point (``method``, ``seed``, ``forward_passes``, ``best_train_acc``,
    ``test_acc``, ``seconds``; attributes or mapping keys) as a :class:`GenerationRecord`:
    arm = method, replicate = seed, generation = forward passes, metrics ``train_acc`` and
    ``test_acc`` (an accuracy that is None, i.e. not measured at this point, is left out)."""
    has = (lambda k: k in rec) if isinstance(rec, dict) else (lambda k: hasattr(rec, k))
    get = rec.__getitem__ if isinstance(rec, dict) else lambda k: getattr(rec, k)
    # redqueen.evolve's EvolveRecord names its arm (method and switches) and its test accuracy in full
    test = get("test_acc_of_best_on_train") if has("test_acc_of_best_on_train") else get("test_acc")
    accs = {"train_acc": get("best_train_acc"), "test_acc": test}
    return _record_class()(
        arm=str(get("arm") if has("arm") else get("method")),
        replicate=int(get("seed")),
        generation=int(get("forward_passes")),
        metrics={k: v for k, v in accs.items() if v is not None},
        seconds=float(get("seconds")),
    )


def _as_record(rec: Any) -> GenerationRecord:
    if isinstance(rec, _record_class()):
        return rec
    if isinstance(rec, dict) and "forward_passes" in rec or hasattr(rec, "forward_passes"):
        return evolve_record(rec)
    raise TypeError(f"cannot store a {type(rec).__name__}; expected a GenerationRecord or an evolution record")


def _metric_value(rec: GenerationRecord, name: Any, value: Any) -> float | None:
    if not isinstance(name, str) or not name:
        raise TypeError(f"metric names must be non-empty strings; got {name!r} in {rec.arm}/{rec.replicate}/{rec.generation}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"metric {name!r} of {rec.arm}/{rec.replicate}/{rec.generation} is {value!r} "
            f"({type(value).__name__}); metrics must be real numbers"
        )
    value = float(value)
    return None if math.isnan(value) else value


def _distribution_blob(rec: GenerationRecord, name: Any, data: Any) -> bytes:
    if not isinstance(name, str) or not name or not isinstance(data, (bytes, bytearray)) or len(data) % 4:
        raise TypeError(
            f"distribution {name!r} of {rec.arm}/{rec.replicate}/{rec.generation} must be a (name, float32 bytes) pair; "
            "build it with redqueen.loop.record.pack_distribution"
        )
    return bytes(data)


def _rows(run_id: str, rec: GenerationRecord) -> tuple[tuple, list[tuple], list[tuple], list[tuple]]:
    if rec.status not in RECORD_STATUSES:
        raise ValueError(f"record status must be one of {RECORD_STATUSES}; got {rec.status!r}")
    key = (run_id, str(rec.arm), int(rec.replicate), int(rec.generation))
    gen = (*key, float(rec.seconds), int(rec.train_size), rec.status, str(rec.reason))
    metrics = [(*key, name, _metric_value(rec, name, v)) for name, v in rec.metrics.items()]
    samples = [(*key, i, str(text)) for i, text in enumerate(rec.samples)]
    dists = [(*key, name, _distribution_blob(rec, name, data)) for name, data in rec.distributions]
    return gen, metrics, samples, dists


# --- the store ------------------------------------------------------------------------------------------


class Store:
    """The SQLite results store of one folder (created if missing): ``<folder>/runs.db``.

    Methods that take a ``run_id`` accept a full id, a unique prefix of one,
    or ``"latest"``; an unknown id raises :class:`UnknownRun` (a ``KeyError``).
    """

    def __init__(self, folder: str | Path = DEFAULT_FOLDER):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / DB_NAME
        self._lock = threading.RLock()
        self._id_cache: dict[str, dict[tuple, int]] = {}
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        self._connect()

    def __repr__(self) -> str:
        return f"Store({str(self.folder)!r})"

    def __getstate__(self) -> dict:
        return {"folder": self.folder}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["folder"])

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    # connection and transactions

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:  # switching to WAL needs a moment alone with the file; other openers may hold it
            try:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                break
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        if mode.lower() != "wal":
            raise RuntimeError(f"{self.path}: SQLite refused WAL mode ({mode}); is the folder on a network file system?")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        self._conn, self._pid = conn, os.getpid()
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"{self.path} was written by a newer redqueen (schema {version}); upgrade redqueen to read it")
        if version < SCHEMA_VERSION:
            self._upgrade(conn)
        return conn

    def _upgrade(self, conn: sqlite3.Connection) -> None:
        """Bring an older (or new, empty) database to :data:`SCHEMA_VERSION`, one step per version,
        all in one transaction; another process may have done it meanwhile, so the version is read
        again under the write lock. Foreign keys are off while tables are rebuilt."""
        conn.execute("PRAGMA foreign_keys = OFF")
        rebuilt = False
        try:
            with self._tx("BEGIN IMMEDIATE") as c:
                (version,) = c.execute("PRAGMA user_version").fetchone()
                if version < 2:  # schema 1 lacked the distributions table; a new file has no tables
                    for stmt in SCHEMA.split(";"):
                        if stmt.strip():
                            c.execute(stmt)
                rebuilt = version < 3 and c.execute("SELECT 1 FROM runs LIMIT 1").fetchone() is not None
                if version < 3:
                    store_compact.migrate_2_to_3(c)
                c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        finally:
            conn.execute("PRAGMA foreign_keys = ON")
        if rebuilt:  # give the old tables' pages back to the file system (best effort: a reader may hold it)
            try:
                conn.execute("VACUUM")
            except sqlite3.OperationalError:
                pass

    def _ids(self, c: sqlite3.Connection, table: str, keys: list[tuple], columns: tuple[str, ...],
             staged: dict[str, dict[tuple, int]]) -> dict[tuple, int]:
        """Integer ids of ``keys`` (tuples of ``columns``) in ``lineages`` or ``metric_names``, adding the missing
        ones. Ids never change once committed, so they are cached per store; ids given in this transaction go to
        ``staged`` and into the cache only after it commits (a rolled-back id may be given again)."""
        known = {**self._id_cache.get(table, {}), **staged.setdefault(table, {})}
        missing = [k for k in dict.fromkeys(keys) if k not in known]
        if missing:
            cols = ", ".join(columns)
            marks = ", ".join("?" * len(columns))
            c.executemany(f"INSERT OR IGNORE INTO {table} ({cols}) VALUES ({marks})", missing)
            where = " AND ".join(f"{col} = ?" for col in columns)
            for k in missing:
                (known[k],) = c.execute(f"SELECT id FROM {table} WHERE {where}", k).fetchone()
                staged[table][k] = known[k]
        return known

    @contextmanager
    def _tx(self, begin: str) -> Iterator[sqlite3.Connection]:
        """One transaction: ``BEGIN IMMEDIATE`` to write, ``BEGIN`` for a consistent read snapshot."""
        with self._lock:
            conn = self._connect()
            conn.execute(begin)
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    # writing

    def create_run(self, *, name: str, kind: str, config: dict, seed: int, arms: list[tuple[str, dict]]) -> str:
        """Record a new run with status ``running`` and its provenance; returns its id.

        ``arms`` is ``[(arm name, description dict), ...]`` in display order.
        Raises ValueError for an unknown ``kind`` or repeated arm names,
        TypeError when ``config`` or a description cannot become JSON.
        """
        if kind not in RUN_KINDS:
            raise ValueError(f"run kind must be one of {RUN_KINDS}; got {kind!r}")
        names = [str(a) for a, _ in arms]
        if len(set(names)) != len(names):
            raise ValueError(f"arm names must be distinct; got {names}")
        config_json = to_json(config)
        arm_rows = [(str(a), i, to_json(desc if desc is not None else {})) for i, (a, desc) in enumerate(arms)]
        prov = provenance()
        while True:
            now = _dt.datetime.now(_dt.timezone.utc)
            run_id = new_run_id(now)
            try:
                with self._tx("BEGIN IMMEDIATE") as c:
                    c.execute(
                        "INSERT INTO runs (id, name, created, status, kind, config, seed, version, git_commit, python, platform)"
                        " VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?)",
                        (run_id, str(name), now.isoformat(timespec="microseconds"), kind, config_json, int(seed),
                         prov["version"], prov["git_commit"], prov["python"], prov["platform"]),
                    )
                    c.executemany(
                        "INSERT INTO arms (run_id, arm, position, description) VALUES (?, ?, ?, ?)",
                        [(run_id, *row) for row in arm_rows],
                    )
            except sqlite3.IntegrityError:
                if self._exists(run_id):
                    continue  # two runs drew the same id in the same second: draw again
                raise
            return run_id

    def append(self, run_id: str, records: Iterable[GenerationRecord]) -> int:
        """Store ``records`` in ONE transaction: all of them land, or (on any error) none.

        Records may also be evolution-curve points (see :func:`evolve_record`).
        Arms not declared at :meth:`create_run` are added with an empty
        description. Returns the number of records stored. Raises
        :class:`UnknownRun`, TypeError for a non-numeric metric, ValueError for
        a bad record status, sqlite3.IntegrityError when a (arm, replicate,
        generation) is already stored.
        """
        rid = self.resolve(run_id)
        gens, metrics, samples, dists = [], [], [], []
        for rec in map(_as_record, records):  # everything is checked before the write lock is taken
            g, m, s, d = _rows(rid, rec)
            gens.append(g)
            metrics.extend(m)
            samples.extend(s)
            dists.extend(d)
        if not gens:
            return 0
        with self._tx("BEGIN IMMEDIATE") as c:
            known = {a for (a,) in c.execute("SELECT arm FROM arms WHERE run_id = ?", (rid,))}
            new = list(dict.fromkeys(g[1] for g in gens if g[1] not in known))
            if new:
                (n_arms,) = c.execute("SELECT COUNT(*) FROM arms WHERE run_id = ?", (rid,)).fetchone()
                c.executemany(
                    "INSERT INTO arms (run_id, arm, position, description) VALUES (?, ?, ?, '{}')",
                    [(rid, a, n_arms + i) for i, a in enumerate(new)],
                )
            c.executemany("INSERT INTO generations VALUES (?, ?, ?, ?, ?, ?, ?, ?)", gens)
            staged: dict[str, dict[tuple, int]] = {}
            lineage = self._ids(c, "lineages", [m[:3] for m in metrics], ("run_id", "arm", "replicate"), staged)
            names = self._ids(c, "metric_names", [(m[4],) for m in metrics], ("name",), staged)
            c.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?)",
                          [(lineage[m[:3]], m[3], names[(m[4],)], m[5]) for m in metrics])
            c.executemany("INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?)", samples)
            c.executemany("INSERT INTO distributions VALUES (?, ?, ?, ?, ?, ?)", dists)
        for table, ids in staged.items():  # committed: these ids are for good
            self._id_cache.setdefault(table, {}).update(ids)
        return len(gens)

    def finish(self, run_id: str, status: str = "done") -> None:
        """Set a run's status (``done``, ``failed``, ``interrupted``, or back to ``running``)."""
        if status not in RUN_STATUSES:
            raise ValueError(f"run status must be one of {RUN_STATUSES}; got {status!r}")
        finished = None if status == "running" else _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")
        with self._tx("BEGIN IMMEDIATE") as c:
            rid = self._resolve(c, run_id)
            c.execute("UPDATE runs SET status = ?, finished = ? WHERE id = ?", (status, finished, rid))

    def progress(self, run_id: str) -> dict[tuple[str, int], tuple[int, str]]:
        """For each (arm, replicate) lineage of a run: its last stored generation and that record's status."""
        with self._tx("BEGIN") as c:
            rid = self._resolve(c, run_id)
            rows = c.execute(
                "SELECT g.arm, g.replicate, g.generation, g.status FROM generations g "
                "JOIN (SELECT arm, replicate, MAX(generation) AS last FROM generations WHERE run_id = ? "
                "GROUP BY arm, replicate) m ON g.arm = m.arm AND g.replicate = m.replicate AND g.generation = m.last "
                "WHERE g.run_id = ?", (rid, rid)).fetchall()
        return {(arm, rep): (gen, status) for arm, rep, gen, status in rows}

    def truncate(self, run_id: str, arm: str, replicate: int, *, after: int) -> int:
        """Delete one lineage's records of generations > ``after`` (all with ``after=-1``), in one transaction.

        Used by resume: the lineage recomputes them, bit for bit, from its checkpoint.
        """
        with self._tx("BEGIN IMMEDIATE") as c:
            rid = self._resolve(c, run_id)
            key = (rid, arm, int(replicate), int(after))
            where = "run_id = ? AND arm = ? AND replicate = ? AND generation > ?"
            c.execute(f"DELETE FROM samples WHERE {where}", key)
            c.execute(f"DELETE FROM distributions WHERE {where}", key)
            c.execute("DELETE FROM metrics WHERE generation > ? AND lineage IN "
                      "(SELECT id FROM lineages WHERE run_id = ? AND arm = ? AND replicate = ?)", (key[3], *key[:3]))
            return c.execute(f"DELETE FROM generations WHERE {where}", key).rowcount

    # finding runs

    def _exists(self, run_id: str) -> bool:
        with self._tx("BEGIN") as c:
            return c.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is not None

    def _resolve(self, c: sqlite3.Connection, run_id: str) -> str:
        run_id = str(run_id).strip()
        if run_id == "latest":
            row = c.execute("SELECT id FROM runs ORDER BY created DESC, rowid DESC LIMIT 1").fetchone()
            if row is None:
                raise UnknownRun(f"no runs yet in {self.path}, so there is no 'latest' run")
            return row[0]
        if c.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone():
            return run_id
        if run_id:
            hits = [r for (r,) in c.execute(
                "SELECT id FROM runs WHERE substr(id, 1, ?) = ? ORDER BY id", (len(run_id), run_id))]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                shown = ", ".join(hits[:8]) + (", ..." if len(hits) > 8 else "")
                raise UnknownRun(f"run id prefix {run_id!r} matches {len(hits)} runs ({shown}); give more of the id")
        ids = [r for (r,) in c.execute("SELECT id FROM runs ORDER BY created DESC, rowid DESC")]
        if not ids:
            raise UnknownRun(f"no run {run_id!r}: {self.path} has no runs yet")
        close = difflib.get_close_matches(run_id, ids, n=5, cutoff=0.5) or ids[:5]
        raise UnknownRun(
            f"no run {run_id!r} in {self.path}; close ids: {', '.join(close)} "
            f"(a unique prefix or 'latest' also works)"
        )

    def resolve(self, run_id: str) -> str:
        """The full id for an id, a unique prefix of one, or ``latest``; raises :class:`UnknownRun`."""
        with self._tx("BEGIN") as c:
            return self._resolve(c, run_id)

    def _info(self, c: sqlite3.Connection, where: str, args: tuple) -> list[RunInfo]:
        rows = c.execute(
            "SELECT r.id, r.name, r.kind, r.created, r.status, r.seed, r.version,"
            " (SELECT COUNT(*) FROM generations g WHERE g.run_id = r.id),"
            " r.finished, r.git_commit, r.python, r.platform, r.config"
            f" FROM runs r {where} ORDER BY r.created, r.rowid",
            args,
        ).fetchall()
        out = []
        for row in rows:
            arms = tuple(
                (a, json.loads(d))
                for a, d in c.execute("SELECT arm, description FROM arms WHERE run_id = ? ORDER BY position", (row[0],))
            )
            out.append(RunInfo(*row[:12], config=json.loads(row[12]), arms=arms))
        return out

    def runs(self) -> list[RunInfo]:
        """Every run, oldest first."""
        with self._tx("BEGIN") as c:
            return self._info(c, "", ())

    def run(self, run_id: str) -> RunInfo:
        """One run by id, unique prefix or ``latest``; raises :class:`UnknownRun` (a KeyError) listing close ids."""
        with self._tx("BEGIN") as c:
            return self._info(c, "WHERE r.id = ?", (self._resolve(c, run_id),))[0]

    # reading results

    def records(self, run_id: str) -> list[GenerationRecord]:
        """The run's records as appended, ordered by arm (declaration order), replicate, generation.

        NaN metrics come back as NaN; a metric a record did not have stays absent.
        """
        order = "ORDER BY a.position, x.replicate, x.generation"
        with self._tx("BEGIN") as c:
            rid = self._resolve(c, run_id)
            gens = c.execute(
                "SELECT x.arm, x.replicate, x.generation, x.seconds, x.train_size, x.status, x.reason"
                f" FROM generations x JOIN arms a ON a.run_id = x.run_id AND a.arm = x.arm WHERE x.run_id = ? {order}",
                (rid,),
            ).fetchall()
            metrics: dict[tuple, dict[str, float]] = {}
            for arm, rep, gen, name, value in c.execute(
                "SELECT l.arm, l.replicate, m.generation, n.name, m.value FROM lineages l"
                " JOIN metrics m ON m.lineage = l.id JOIN metric_names n ON n.id = m.name WHERE l.run_id = ?"
                " ORDER BY l.id, m.generation, m.name", (rid,)
            ):
                metrics.setdefault((arm, rep, gen), {})[name] = math.nan if value is None else value
            samples: dict[tuple, list[str]] = {}
            for arm, rep, gen, text in c.execute(
                "SELECT arm, replicate, generation, text FROM samples WHERE run_id = ? ORDER BY arm, replicate, generation, idx",
                (rid,),
            ):
                samples.setdefault((arm, rep, gen), []).append(text)
            dists: dict[tuple, list[tuple[str, bytes]]] = {}
            for arm, rep, gen, name, data in c.execute(
                "SELECT arm, replicate, generation, name, float32 FROM distributions WHERE run_id = ? ORDER BY rowid",
                (rid,),
            ):
                dists.setdefault((arm, rep, gen), []).append((name, bytes(data)))
        record = _record_class()
        return [
            record(
                arm=arm, replicate=rep, generation=gen, metrics=metrics.get((arm, rep, gen), {}),
                samples=tuple(samples.get((arm, rep, gen), ())), seconds=sec, train_size=size, status=st, reason=why,
                distributions=tuple(dists.get((arm, rep, gen), ())),
            )
            for arm, rep, gen, sec, size, st, why in gens
        ]

    def _rows_of(self, run_id: str, table: str, last: tuple[str, str], **filters: str | None) -> list[tuple]:
        """``(arm, replicate, generation, *last)`` rows of one per-generation table in arm declaration
        order, filtered on the columns given as keywords (None: no filter)."""
        sql = (f"SELECT t.arm, t.replicate, t.generation, t.{last[0]}, t.{last[1]} FROM {table} t"
               " JOIN arms a ON a.run_id = t.run_id AND a.arm = t.arm WHERE t.run_id = ?")
        with self._tx("BEGIN") as c:
            args: list = [self._resolve(c, run_id)]
            for column, value in filters.items():
                if value is not None:
                    sql, args = sql + f" AND t.{column} = ?", args + [value]
            return c.execute(sql + f" ORDER BY a.position, t.replicate, t.generation, t.{last[0]}", args).fetchall()

    def iter_rows(self, run_id: str, *, arm: str | None = None, replicate: int | None = None,
                  every: int | None = None, names: Iterable[str] | None = None, ends: bool = False) -> Iterator[Row]:
        """Generation rows with their metrics, streamed from SQL in arm declaration order, replicate,
        generation: memory stays bounded however large the run, and no record objects are built.

        Filters: ``arm``, ``replicate``; ``every`` k keeps generations divisible by k and each
        lineage's last; ``names`` keeps only those metrics; ``ends`` keeps each lineage's first and
        last generation. The read is one snapshot (the rows are fetched while iterating; finish or
        close the iterator before writing from the same thread).
        """
        with self._lock:
            c = self._connect()
            rid = self.resolve(run_id)
            where, args = ["g.run_id = ?"], [rid]
            if arm is not None:
                where.append("g.arm = ?")
                args.append(arm)
            if replicate is not None:
                where.append("g.replicate = ?")
                args.append(int(replicate))
            bounds = ("JOIN (SELECT arm, replicate, MIN(generation) AS first, MAX(generation) AS last FROM generations"
                      " WHERE run_id = ? GROUP BY arm, replicate) b ON b.arm = g.arm AND b.replicate = g.replicate")
            if ends:
                where.append("(g.generation = b.first OR g.generation = b.last)")
            if every is not None:
                where.append("(g.generation % ? = 0 OR g.generation = b.last)")
                args.append(int(every))
            name_join = ""
            if names is not None:
                names = list(dict.fromkeys(names))
                name_join = f" AND m.name IN (SELECT id FROM metric_names WHERE name IN ({', '.join('?' * len(names))}))"
            sql = (
                "SELECT g.arm, g.replicate, g.generation, g.status, g.reason, n.name, m.value FROM generations g"
                " JOIN arms a ON a.run_id = g.run_id AND a.arm = g.arm "
                + (bounds if ends or every is not None else "")
                + " LEFT JOIN lineages l ON l.run_id = g.run_id AND l.arm = g.arm AND l.replicate = g.replicate"
                " LEFT JOIN metrics m ON m.lineage = l.id AND m.generation = g.generation" + name_join
                + " LEFT JOIN metric_names n ON n.id = m.name"
                " WHERE " + " AND ".join(where) + " ORDER BY a.position, g.replicate, g.generation, m.name"
            )
            params = ([rid] if ends or every is not None else []) + (names or []) + args
            cursor = c.execute(sql, params)
        key, row, values = None, None, {}
        for arm_, rep, gen, status, reason, name, value in cursor:
            if (arm_, rep, gen) != key:
                if row is not None:
                    yield Row(*row, values)
                key, row, values = (arm_, rep, gen), (arm_, rep, gen, status, reason), {}
            if name is not None:
                values[name] = math.nan if value is None else value
        if row is not None:
            yield Row(*row, values)

    def metrics(self, run_id: str, *, name: str | None = None, arm: str | None = None) -> list[MetricRow]:
        """Long-format metric rows ``(arm, replicate, generation, name, value)``, optionally filtered."""
        rows = self._rows_of(run_id, "metric_rows", ("name", "value"), name=name, arm=arm)
        return [MetricRow(a, r, g, n, math.nan if v is None else v) for a, r, g, n, v in rows]

    def samples(self, run_id: str, *, arm: str | None = None) -> list[SampleRow]:
        """Readable samples ``(arm, replicate, generation, idx, text)``, optionally of one arm."""
        return [SampleRow(*row) for row in self._rows_of(run_id, "samples", ("idx", "text"), arm=arm)]

    def distributions(self, run_id: str, *, name: str | None = None, arm: str | None = None) -> list[DistributionRow]:
        """Per-item distributions ``(arm, replicate, generation, name, values)``, optionally filtered."""
        rows = self._rows_of(run_id, "distributions", ("name", "float32"), name=name, arm=arm)
        return [DistributionRow(a, r, g, n, np.frombuffer(v, dtype=np.float32)) for a, r, g, n, v in rows]

    def table(self, run_id: str) -> dict[str, np.ndarray]:
        """The wide table: one row per (arm, replicate, generation), one column per metric.

        Columns ``arm``, ``status``, ``reason`` (object arrays of str),
        ``replicate``, ``generation``, ``train_size`` (int64), ``seconds`` and
        every metric (float64; NaN where a row lacks the metric, see
        :meth:`records` to tell absent from NaN). A metric whose name clashes
        with a fixed column is named ``metric_<name>``. All arrays have shape (rows,).
        """
        recs = self.records(run_id)
        out: dict[str, np.ndarray] = {
            "arm": np.array([r.arm for r in recs], dtype=object),
            "replicate": np.array([r.replicate for r in recs], dtype=np.int64),
            "generation": np.array([r.generation for r in recs], dtype=np.int64),
            "seconds": np.array([r.seconds for r in recs], dtype=np.float64),
            "train_size": np.array([r.train_size for r in recs], dtype=np.int64),
            "status": np.array([r.status for r in recs], dtype=object),
            "reason": np.array([r.reason for r in recs], dtype=object),
        }
        for col, n in _metric_columns(recs):
            out[col] = np.array([r.metrics.get(n, math.nan) for r in recs], dtype=np.float64)
        return out

    def frame(self, run_id: str):
        """The run's records as a pandas DataFrame, a row per arm x replicate x generation
        (:mod:`redqueen.frames`; needs pandas); ``attrs["run_id"]`` holds the full id."""
        from redqueen.frames import records_frame

        info = self.run(run_id)
        return records_frame(self.records(info.id), run_id=info.id)

    def export(self, run_id: str, path: str | Path, fmt: str | None = None) -> Path:
        """Write the wide :meth:`table` of a run to ``path`` as ``csv`` or ``parquet``.

        ``fmt`` defaults to the file suffix (``.parquet`` / ``.pq``, else csv).
        The file is written to a temporary name beside ``path`` and moved into
        place, so no half-written file is left. In CSV, NaN is ``nan`` and a
        metric a row lacks is an empty cell; in parquet those are NaN and null.
        Parquet files carry the run's provenance as schema metadata.
        """
        path = Path(path)
        fmt = (fmt or ("parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv")).lower()
        if fmt not in ("csv", "parquet"):
            raise ValueError(f"export format must be 'csv' or 'parquet'; got {fmt!r}")
        info = self.run(run_id)
        recs = self.records(info.id)
        metric_cols = _metric_columns(recs)
        from redqueen.runtime.files import atomic_path

        with atomic_path(path) as tmp:
            if fmt == "csv":
                with open(tmp, "w", newline="", encoding="utf-8") as f:
                    w = csv.writer(f)
                    w.writerow(list(FIXED_COLUMNS) + [col for col, _ in metric_cols])
                    for r in recs:
                        w.writerow(
                            [r.arm, r.replicate, r.generation, repr(float(r.seconds)), r.train_size, r.status, r.reason]
                            + [repr(float(r.metrics[m])) if m in r.metrics else "" for _, m in metric_cols]
                        )
            else:
                _write_parquet(str(tmp), info, recs, metric_cols)
        return path


def _metric_columns(recs: list[GenerationRecord]) -> list[tuple[str, str]]:
    """(column, metric name) for every metric in ``recs``, sorted; clashes with fixed columns get ``metric_``."""
    names = sorted({n for r in recs for n in r.metrics})
    return [(f"metric_{n}" if n in FIXED_COLUMNS else n, n) for n in names]


def _write_parquet(tmp: str, info: RunInfo, recs: list[GenerationRecord], metric_cols: list) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {
        "arm": pa.array([r.arm for r in recs], pa.string()),
        "replicate": pa.array([r.replicate for r in recs], pa.int64()),
        "generation": pa.array([r.generation for r in recs], pa.int64()),
        "seconds": pa.array([float(r.seconds) for r in recs], pa.float64()),
        "train_size": pa.array([r.train_size for r in recs], pa.int64()),
        "status": pa.array([r.status for r in recs], pa.string()),
        "reason": pa.array([r.reason for r in recs], pa.string()),
    }
    for col, m in metric_cols:
        arrays[col] = pa.array([r.metrics.get(m) for r in recs], pa.float64())
    meta = {
        "redqueen.run_id": info.id, "redqueen.name": info.name, "redqueen.kind": info.kind,
        "redqueen.seed": str(info.seed), "redqueen.version": info.version, "redqueen.git_commit": info.commit or "",
        "redqueen.config": to_json(info.config),
    }
    table = pa.table(arrays).replace_schema_metadata(meta)
    pq.write_table(table, tmp)
