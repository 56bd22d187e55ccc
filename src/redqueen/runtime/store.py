"""The results store: one SQLite file per results folder.

Every run of every kind lands in the same six tables, so the report, the
CLI and exports read one thing:

* ``runs``: one row per run, with its provenance (the validated config as
  JSON, the seed actually used, package version, git commit, Python,
  platform) and a status ``running`` / ``done`` / ``failed`` /
  ``interrupted``;
* ``arms``: the arms a run compares, each with a JSON description;
* ``generations``: one row per (run, arm, replicate, member, generation) -- a member is one
  lineage of a population (0 for a plain lineage);
* ``metrics``: long format, one row per metric of a generation row, keyed by integer ids of
  the member lineage (table ``lineages``) and of the metric name (``metric_names``), so a
  record costs tens of bytes (the view ``metric_rows`` spells the ids out). NaN is stored as
  NULL (SQLite cannot hold NaN) and read back as NaN; +-inf are stored as themselves;
* ``samples``: the readable samples of a generation;
* ``distributions``: per-item values of a generation as float32 blobs (for
  text, each sample's perplexity under the generation-0 model), one row per
  name;
* ``parents``: the genealogy -- which members of the population a member's make-up came
  from this generation (migrants, merges, copies), with weights.

The schema is :mod:`redqueen.runtime.migrations`' ordered steps; older stores are upgraded on open
for writing, and read through an upgraded copy in memory when opened read-only (:mod:`redqueen.runtime.connection`).

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
import functools
import itertools
import json
import math
import numbers
import os
import sqlite3
import time
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, NamedTuple

import numpy as np

from redqueen.runtime import migrations
from redqueen.runtime.connection import BUSY_TIMEOUT_S, Database, StoreError, StoreGone, writable
from redqueen.runtime.integrity import Problem, check_rows, config_damage, meta_damage
from redqueen.runtime.lease import LeaseHeld, Leases, is_live, Owner
from redqueen.runtime.provenance import new_run_id, provenance

if TYPE_CHECKING:
    from redqueen.loop.record import GenerationRecord

DEFAULT_FOLDER = Path("redqueen-runs")
DB_NAME = "runs.db"
RUN_STATUSES = ("running", "done", "failed", "interrupted")
#: what a run whose stored status is 'running' is shown as once its owner is gone
KILLED = "killed"
RECORD_STATUSES = ("ok", "diverged", "failed", "error")  # the table record_statuses (migration step 4)
SCHEMA_VERSION = migrations.LATEST  # PRAGMA user_version; a new schema is a new step in runtime/migrations.py
FIXED_COLUMNS = ("arm", "replicate", "member", "generation", "seconds", "train_size", "status", "reason")
_KEY = ((str,), (int,), (int,), (int,))  # arm, replicate, member, generation
#: the Python types each per-generation table's columns must read back as (as selected below)
_TYPES = {
    "generations": (*_KEY, (float, int), (int,), (str,), (str,)),
    "metrics": (*_KEY, (str,), (float, int, type(None))),
    "samples": (*_KEY, (str,)),
    "distributions": (*_KEY, (str,), (bytes,)),
    "parents": (*_KEY, (int,), (str,), (float, int)),
}
# the columns of iter_rows: a generation's key, status and reason, then one metric (none: a generation without metrics)
_STREAMED = (*_KEY, (str,), (str,), (str, type(None)), (float, int, type(None)))


@functools.lru_cache(maxsize=None)
def _type_rows(types: tuple) -> frozenset:
    """Every tuple of exact Python types a row with column ``types`` may read back as (bool is not an int here)."""
    return frozenset(itertools.product(*types))


class RunBusy(StoreError):
    """The run (or sweep point) is owned by a live lease of another process."""


class DataChanged(StoreError):
    """A data file the run read when it started has changed; resuming would mix two data sets."""


class IncompleteRun(StoreError):
    """A run asked to be ``done`` lacks records (it is marked ``failed``; resume recomputes them)."""


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
    reason: str = ""
    owner: str | None = None  # who writes a live run, in words ("user (pid 123 on host)")
    meta: dict = field(default_factory=dict)  # provenance (libraries, source), data (file hashes), options

    @property
    def live(self) -> bool:
        """Whether a live process owns this run now."""
        return self.owner is not None

    @property
    def evolves(self) -> bool:
        """Whether the run evolves genomes on a task (an ``evolve`` run of an old store, or a run on a
        task world): its progress is counted in forward passes, not generations of data."""
        from redqueen.runtime.config import WORLD_DATA

        return self.kind == "evolve" or WORLD_DATA.get((self.config.get("world") or {}).get("kind")) == "task"

    def progress(self, record) -> int:
        """How far ``record`` is into the run: its forward passes if the run :attr:`evolves`, else its generation."""
        if self.evolves and "forward_passes" in record.metrics:
            return int(round(record.metrics["forward_passes"]))
        return record.generation


@dataclass(frozen=True)
class RunCheck:
    """What :meth:`Store.check` found: ``problems`` per lineage (None: the run kind plans no generations)."""

    run_id: str
    columns: tuple[str, ...]
    problems: list[Problem] | None

    @property
    def whole(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        return [p.line(self.columns) for p in self.problems or ()]

    def summary(self, most: int = 3) -> str:
        lines = self.lines()
        return "; ".join(lines[:most]) + (f"; and {len(lines) - most} more lineages" if len(lines) > most else "")


class MetricRow(NamedTuple):
    arm: str
    replicate: int
    generation: int
    name: str
    value: float
    member: int = 0


class SampleRow(NamedTuple):
    arm: str
    replicate: int
    generation: int
    idx: int
    text: str
    member: int = 0


class DistributionRow(NamedTuple):
    arm: str
    replicate: int
    generation: int
    name: str
    values: np.ndarray  # float32, one value per item
    member: int = 0


class Row(NamedTuple):
    """One generation of one member lineage as :meth:`Store.iter_rows` streams it (metrics: name -> value, NaN as NaN)."""

    arm: str
    replicate: int
    generation: int
    status: str
    reason: str
    metrics: dict[str, float]
    member: int = 0


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


def _rows(run_id: str, rec: GenerationRecord) -> tuple[tuple, list[tuple], list[tuple], list[tuple], list[tuple]]:
    if rec.status not in RECORD_STATUSES:
        raise ValueError(f"record status must be one of {RECORD_STATUSES}; got {rec.status!r}")
    key = (run_id, str(rec.arm), int(rec.replicate), int(getattr(rec, "member", 0)), int(rec.generation))
    gen = (*key, float(rec.seconds), int(rec.train_size), rec.status, str(rec.reason))
    metrics = [(*key, name, _metric_value(rec, name, v)) for name, v in rec.metrics.items()]
    samples = [(*key, i, str(text)) for i, text in enumerate(rec.samples)]
    dists = [(*key, name, _distribution_blob(rec, name, data)) for name, data in rec.distributions]
    parents = [(*key, int(p.member), str(p.kind), float(p.weight)) for p in getattr(rec, "parents", ())]
    return gen, metrics, samples, dists, parents


# --- the store ------------------------------------------------------------------------------------------


class Store:
    """The SQLite results store of one folder: ``<folder>/runs.db``.

    Methods that take a ``run_id`` accept a full id, a unique prefix of one,
    or ``"latest"``; an unknown id raises :class:`UnknownRun` (a ``KeyError``).

    ``readonly``: False (the default) opens for writing, creating the folder
    and store if missing; True opens an existing store read-only (nothing is
    created; an older schema is upgraded in memory only); None opens
    read-only exactly when the store cannot be written (read-only media).
    Anything the store cannot do raises a one-line :class:`StoreError`.

    Runs are owned: :meth:`create_run` and :meth:`acquire` take the run's
    lease (owner pid, host, heartbeat; see :mod:`redqueen.runtime.lease`),
    :meth:`finish` releases it. A second process asking for a live run gets
    :class:`RunBusy`; :meth:`runs` shows a ``running`` run whose owner is gone
    as ``killed``.
    """

    def __init__(self, folder: str | Path = DEFAULT_FOLDER, *, readonly: bool | None = False):
        self.folder = Path(folder)
        self.path = self.folder / DB_NAME
        if readonly is None:
            readonly = self.path.is_file() and not writable(self.folder, self.path)
        if readonly and not self.path.is_file():
            raise StoreError(f"{self.folder}: no results store here; run an experiment first or pass --out FOLDER")
        if not readonly and self.path.is_file() and not writable(self.folder, self.path):
            raise StoreError(f"{self.path}: the store is read-only (read-only media or no write permission); pass a "
                             "writable --out folder (list, show, check, report and export can still read it)")
        if not readonly:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"{self.folder}: cannot create the results folder ({e.strerror}); "
                                 "pass another --out folder") from None
        self.readonly = bool(readonly)
        self._db = Database(self.path, readonly=self.readonly)
        self._leases = Leases(lambda: self._tx("BEGIN IMMEDIATE"))
        self._key_cols: tuple[str, ...] | None = None
        self._id_cache: dict[str, dict[tuple, int]] = {}
        self._db.connect()

    def __repr__(self) -> str:
        return f"Store({str(self.folder)!r})"

    def __getstate__(self) -> dict:
        return {"folder": self.folder, "readonly": self.readonly}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["folder"], readonly=state.get("readonly", False))

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release the leases this store holds and close its connection."""
        if self._db.pid == os.getpid() and not self.readonly:
            self._leases.release_all()
        self._db.close()

    def _tx(self, begin: str):
        return self._db.tx(begin)

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

    # writing

    def kinds(self) -> dict[str, str]:
        """The run kinds this store holds (table ``run_kinds``): kind -> description."""
        with self._tx("BEGIN") as c:
            return dict(c.execute("SELECT kind, description FROM run_kinds ORDER BY rowid"))

    def create_run(self, *, name: str, kind: str, config: dict, seed: int, arms: list[tuple[str, dict]],
                   data: dict | None = None, options: dict | None = None) -> str:
        """Record a new run with status ``running``, its provenance and this process's lease; returns its id.

        ``arms`` is ``[(arm name, description dict), ...]`` in display order;
        ``data`` the data files the run reads (path -> ``{"sha256", "bytes"}``,
        see :func:`redqueen.runtime.provenance.data_files`), compared by
        :meth:`acquire` on resume; ``options`` how it was started (e.g.
        ``keep_checkpoints``). Raises ValueError for a kind not in
        :meth:`kinds` or repeated arm names, TypeError when something cannot
        become JSON.
        """
        names = [str(a) for a, _ in arms]
        if len(set(names)) != len(names):
            raise ValueError(f"arm names must be distinct; got {names}")
        config_json = to_json(config)
        arm_rows = [(str(a), i, to_json(desc if desc is not None else {})) for i, (a, desc) in enumerate(arms)]
        prov = provenance()
        meta = {"provenance": {k: prov[k] for k in ("libraries", "source")}, "data": data or {},
                "options": options or {}}
        meta_rows = [(k, to_json(v)) for k, v in meta.items()]
        while True:
            now = _dt.datetime.now(_dt.timezone.utc)
            run_id = new_run_id(now)
            try:
                with self._tx("BEGIN IMMEDIATE") as c:
                    known = [k for (k,) in c.execute("SELECT kind FROM run_kinds ORDER BY rowid")]
                    if kind not in known:
                        raise ValueError(f"run kind must be one of {tuple(known)}; got {kind!r}")
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
                    c.executemany("INSERT INTO run_meta VALUES (?, ?, ?)", [(run_id, *row) for row in meta_rows])
                    token = self._leases.take(c, run_id)
            except sqlite3.IntegrityError:
                if self._exists(run_id):
                    continue  # two runs drew the same id in the same second: draw again
                raise
            self._leases.hold(run_id, token)
            return run_id

    def acquire(self, run_id: str, *, data: dict | None = None) -> str:
        """Own an existing run for writing (a resume); returns its full id.

        In one transaction: refuse (:class:`RunBusy`) if a live process owns
        it; refuse (:class:`DataChanged`) if ``data`` (as for :meth:`create_run`)
        differs from the files the run read when it started; take the lease;
        drop every population's records from the first generation a lineage of it is missing or has no
        metrics on (a population's records are a gap-free prefix, so resume recomputes the rest);
        set the status back to ``running``.
        """
        try:
            with self._tx("BEGIN IMMEDIATE") as c:
                rid = self._resolve(c, run_id)
                if data is not None:
                    self._same_data(c, rid, data)
                token = self._leases.take(c, rid)
                cols = self._key_columns(c)
                for problem in self._check(c, rid).problems or ():  # a population recomputes as one, all members
                    whole = problem.what != "unplanned"  # (an unplanned member is dropped alone)
                    key = tuple(None if whole and col not in ("arm", "replicate") else v
                                for col, v in zip(cols, problem.lineage))
                    self._delete_from(c, rid, key, problem.first_bad)
                c.execute("UPDATE runs SET status = 'running', finished = NULL, reason = '' WHERE id = ?", (rid,))
        except LeaseHeld as e:
            raise self._busy(e, "resume it") from None
        self._leases.hold(rid, token)
        return rid

    def claim(self, key: str) -> str | None:
        """Take the lease ``key`` (a sweep's grid point) unless a live process holds it.

        Returns None when taken (release it with :meth:`release`), else who holds it, in words.
        """
        try:
            with self._tx("BEGIN IMMEDIATE") as c:
                token = self._leases.take(c, key)
        except LeaseHeld as e:
            return e.owner.describe()
        self._leases.hold(key, token)
        return None

    def release(self, key: str) -> None:
        """Give up this store's lease on ``key`` (a run id or a claim); nothing if it holds none."""
        if not self._leases.holds(key):
            return
        with self._tx("BEGIN IMMEDIATE") as c:
            self._leases.drop(c, key)
        self._leases.forget(key)

    def _busy(self, e: LeaseHeld, what: str) -> RunBusy:
        return RunBusy(f"run {e.key} is live: {e.owner.describe()} has been writing it since {e.since} (heartbeat "
                       f"{e.age:.0f} s ago), so this process may not {what}; wait for it to finish or stop that "
                       "process (`redqueen list` shows who owns which run)")

    def _still_mine(self, c: sqlite3.Connection, rid: str) -> None:
        """Before a write to run ``rid``: if this store owned it, it still does."""
        try:
            self._leases.check(c, rid)
        except LeaseHeld as e:
            raise RunBusy(f"run {rid} was taken over by {e.owner.describe()} while this process was writing it "
                          "(its heartbeat had stopped); this process stops without writing more") from None

    def _guard(self, c: sqlite3.Connection, rid: str, what: str) -> None:
        """Before changing run ``rid``: this store still owns it if it did, and no live process does if it did not."""
        self._still_mine(c, rid)
        if not self._leases.holds(rid):
            held = self._leases.holder(c, rid)
            if held is not None:
                raise self._busy(LeaseHeld(rid, held[0], held[1], time.time() - held[2]), what)

    def _same_data(self, c: sqlite3.Connection, rid: str, data: dict) -> None:
        then = self._meta(c, rid).get("data") or {}
        for path in sorted(set(then) | set(data)):
            old, new = then.get(path), data.get(path)
            if old is None:
                continue  # a file this version reads that the run's version did not record
            if new is None or new.get("sha256") != old.get("sha256"):
                now = "is gone" if new is None else f"now has sha256 {new['sha256'][:12]}... ({new['bytes']} bytes)"
                raise DataChanged(f"run {rid} read {path} with sha256 {old['sha256'][:12]}... ({old['bytes']} bytes) and "
                                  f"that file {now}; resuming would mix two data sets: restore the file, or start a new "
                                  "run with `redqueen run`")

    def append(self, run_id: str, records: Iterable[GenerationRecord]) -> int:
        """Store ``records`` in ONE transaction: all of them land, or (on any error) none.

        Records may also be evolution-curve points (see :func:`evolve_record`).
        Arms not declared at :meth:`create_run` are added with an empty
        description. Returns the number of records stored. Raises
        :class:`UnknownRun`, TypeError for a non-numeric metric, ValueError for
        a bad record status, sqlite3.IntegrityError when a (arm, replicate,
        generation) is already stored, :class:`RunBusy` when this store owned
        the run and another process took it over.
        """
        rid = self.resolve(run_id)
        gens, metrics, samples, dists, parents = [], [], [], [], []
        for rec in map(_as_record, records):  # everything is checked before the write lock is taken
            g, m, s, d, p = _rows(rid, rec)
            gens.append(g)
            metrics.extend(m)
            samples.extend(s)
            dists.extend(d)
            parents.extend(p)
        if not gens:
            return 0
        with self._tx("BEGIN IMMEDIATE") as c:
            self._still_mine(c, rid)
            known = {a for (a,) in c.execute("SELECT arm FROM arms WHERE run_id = ?", (rid,))}
            new = list(dict.fromkeys(g[1] for g in gens if g[1] not in known))
            if new:
                (n_arms,) = c.execute("SELECT COUNT(*) FROM arms WHERE run_id = ?", (rid,)).fetchone()
                c.executemany(
                    "INSERT INTO arms (run_id, arm, position, description) VALUES (?, ?, ?, '{}')",
                    [(rid, a, n_arms + i) for i, a in enumerate(new)],
                )
            c.executemany("INSERT INTO generations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", gens)
            staged: dict[str, dict[tuple, int]] = {}
            lineage = self._ids(c, "lineages", [g[:4] for g in gens], ("run_id", "arm", "replicate", "member"), staged)
            names = self._ids(c, "metric_names", [(m[5],) for m in metrics], ("name",), staged)
            c.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?)",
                          [(lineage[m[:4]], m[4], names[(m[5],)], m[6]) for m in metrics])
            c.executemany("INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?, ?)", samples)
            c.executemany("INSERT INTO distributions VALUES (?, ?, ?, ?, ?, ?, ?)", dists)
            c.executemany("INSERT INTO parents VALUES (?, ?, ?, ?, ?, ?, ?, ?)", parents)
        for table, ids in staged.items():  # committed: these ids are for good
            self._id_cache.setdefault(table, {}).update(ids)
        return len(gens)

    def finish(self, run_id: str, status: str = "done", reason: str = "") -> None:
        """Set a run's status (``done``, ``failed``, ``interrupted``, or back to ``running``) and, unless
        ``running``, release this store's lease on it.

        ``done`` first checks the run is whole (:meth:`check`); if it is not, the run
        is marked ``failed`` with the missing records as reason and :class:`IncompleteRun`
        is raised (``acquire``, i.e. resume, recomputes them). Raises :class:`RunBusy`
        when another live process owns the run.
        """
        if status not in RUN_STATUSES:
            raise ValueError(f"run status must be one of {RUN_STATUSES}; got {status!r}")
        missing = None
        with self._tx("BEGIN IMMEDIATE") as c:
            rid = self._resolve(c, run_id)
            self._guard(c, rid, f"mark it {status}")
            if status == "done":
                check = self._check(c, rid)
                if check.problems:
                    missing = check.summary()
                    status, reason = "failed", f"records missing: {missing}"
            finished = None if status == "running" else _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")
            c.execute("UPDATE runs SET status = ?, finished = ?, reason = ? WHERE id = ?",
                      (status, finished, str(reason).splitlines()[0][:500] if reason else "", rid))
            if status != "running":
                self._leases.drop(c, rid)
        if status != "running":
            self._leases.forget(rid)
        if missing:
            raise IncompleteRun(f"run {rid} ended with records missing ({missing}); it is marked failed and "
                                f"`redqueen resume {rid}` recomputes them")

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

        Used by resume: the lineage (every member of its population) recomputes them, bit for bit, from its
        checkpoint.
        Raises :class:`RunBusy` when another live process owns the run.
        """
        with self._tx("BEGIN IMMEDIATE") as c:
            rid = self._resolve(c, run_id)
            self._guard(c, rid, "truncate it")
            cols = self._key_columns(c)
            key = {"arm": arm, "replicate": int(replicate)}
            return self._delete_from(c, rid, tuple(key.get(col) for col in cols), int(after) + 1)

    # the tables keyed by generation, and whether a run is whole

    def _key_columns(self, c: sqlite3.Connection) -> tuple[str, ...]:
        """The columns naming a lineage in ``generations`` (its primary key less run_id and generation)."""
        if self._key_cols is None:
            pk = sorted((row[5], row[1]) for row in c.execute("PRAGMA table_info(generations)") if row[5])
            self._key_cols = tuple(name for _, name in pk if name not in ("run_id", "generation"))
        return self._key_cols

    def _delete_from(self, c: sqlite3.Connection, rid: str, lineage: tuple, first: int) -> int:
        """Delete a lineage's rows of generations >= ``first`` from every per-generation table; a key value of
        None matches every value of that column (every member of a population)."""
        cols = [col for col, v in zip(self._key_columns(c), lineage) if v is not None]
        values = [v for v in lineage if v is not None]
        where = " AND ".join(["run_id = ?", *(f"{col} = ?" for col in cols), "generation >= ?"])
        args = (rid, *values, first)
        c.execute("DELETE FROM metrics WHERE generation >= ? AND lineage IN (SELECT id FROM lineages WHERE "
                  + " AND ".join(["run_id = ?", *(f"{col} = ?" for col in cols)]) + ")", (first, rid, *values))
        tables = [t for (t,) in c.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'generations'")
                  if {"run_id", "generation"} <= {row[1] for row in c.execute(f"PRAGMA table_info({t})")}]
        for table in tables:  # rows that refer to a generation row go first
            c.execute(f"DELETE FROM {table} WHERE {where}", args)
        return c.execute(f"DELETE FROM generations WHERE {where}", args).rowcount

    def _config(self, c: sqlite3.Connection, rid: str) -> dict:
        (text,) = c.execute("SELECT config FROM runs WHERE id = ?", (rid,)).fetchone()
        return self._stored_config(rid, text)

    def _stored_config(self, rid: str, text) -> dict:
        """A run's config as stored, with the types its readers take as they are (:func:`config_damage`)."""
        config = self._json(text, f"run {rid}'s stored config")
        why = config_damage(config)
        if why is not None:
            raise StoreError(f"{self.path}: run {rid}'s stored config is damaged ({why[:160]}); restore the store "
                             "from a backup or pass another --out folder")
        return config

    def _check(self, c: sqlite3.Connection, rid: str) -> RunCheck:
        cols = self._key_columns(c)
        rows = c.execute(f"SELECT {', '.join(cols)}, generation, status FROM generations WHERE run_id = ?", (rid,))
        on = " AND ".join(["l.run_id = g.run_id", *(f"l.{col} = g.{col}" for col in cols)])
        unmeasured = c.execute(  # an ok generation row without metric rows (metrics refer to it through lineages)
            f"SELECT {', '.join('g.' + col for col in cols)}, g.generation FROM generations g LEFT JOIN lineages l "
            f"ON {on} WHERE g.run_id = ? AND g.status = 'ok' AND NOT EXISTS (SELECT 1 FROM metrics m "
            "WHERE m.lineage = l.id AND m.generation = g.generation)", (rid,))
        return RunCheck(rid, cols, check_rows(self._config(c, rid), cols, rows, unmeasured.fetchall()))

    def check(self, run_id: str) -> RunCheck:
        """Whether a run has every generation of every lineage its stored config plans (see
        :mod:`redqueen.runtime.integrity`); ``problems`` is None for runs without planned generations.

        First SQLite reads every page of the file (``PRAGMA quick_check``): a damaged page anywhere, even
        in a table no other command reads, is a :class:`StoreError`."""
        with self._tx("BEGIN") as c:
            found = [row[0] for row in c.execute("PRAGMA quick_check")]
            if found != ["ok"]:
                raise StoreError(f"{self.path}: the store is damaged ({found[0][:120]}); restore it from a backup "
                                 "or pass another --out folder")
            return self._check(c, self._resolve(c, run_id))

    # run metadata

    def _json(self, text: Any, what: str) -> Any:
        try:
            return json.loads(text)
        except (TypeError, ValueError, RecursionError):
            raise StoreError(f"{self.path}: {what} is not valid JSON; the store is damaged (restore it from a "
                             "backup or pass another --out folder)") from None

    def _meta(self, c: sqlite3.Connection, rid: str) -> dict:
        meta = {k: self._json(v, f"run {rid}'s {k!r} metadata")
                for k, v in c.execute("SELECT key, value FROM run_meta WHERE run_id = ?", (rid,))}
        why = next((w for k, v in meta.items() if (w := meta_damage(k, v)) is not None), None)
        if why is not None:
            raise StoreError(f"{self.path}: run {rid}'s stored metadata is damaged ({why[:160]}); restore the store "
                             "from a backup or pass another --out folder")
        return meta

    def set_meta(self, run_id: str, key: str, value: Any) -> None:
        """Store a JSON value with a run (``options`` after a resume with other flags, and the like)."""
        with self._tx("BEGIN IMMEDIATE") as c:
            rid = self._resolve(c, run_id)
            c.execute("INSERT OR REPLACE INTO run_meta VALUES (?, ?, ?)", (rid, str(key), to_json(value)))

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
            " r.finished, r.git_commit, r.python, r.platform, r.config, r.reason,"
            " l.pid, l.pid_start, l.host, l.boot, l.user, l.heartbeat"
            f" FROM runs r LEFT JOIN leases l ON l.key = r.id {where} ORDER BY r.created, r.rowid",
            args,
        ).fetchall()
        out = []
        me = self._leases.me
        for row in rows:
            rid, status = row[0], row[4]
            arms = tuple(
                (a, self._json(d, f"run {rid}'s description of arm {a!r}"))
                for a, d in c.execute("SELECT arm, description FROM arms WHERE run_id = ? ORDER BY position", (rid,))
            )
            owner = None
            if status == "running":
                holder = Owner(*row[14:19]) if row[14] is not None else None
                if holder is not None and is_live(holder, row[19], me=me):
                    owner = holder.describe()
                else:
                    status = KILLED
            out.append(RunInfo(rid, row[1], row[2], row[3], status, *row[5:12], config=self._stored_config(rid, row[12]),
                               arms=arms,
                               reason=row[13] or "", owner=owner, meta=self._meta(c, rid)))
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
        """The run's records as appended, ordered by arm (declaration order), replicate, member, generation.

        NaN metrics come back as NaN; a metric a record did not have stays absent.
        """
        order = "ORDER BY a.position, x.replicate, x.member, x.generation"
        with self._tx("BEGIN") as c:
            rid = self._resolve(c, run_id)
            gens = list(self._typed(c.execute(
                "SELECT x.arm, x.replicate, x.member, x.generation, x.seconds, x.train_size, x.status, x.reason"
                f" FROM generations x JOIN arms a ON a.run_id = x.run_id AND a.arm = x.arm WHERE x.run_id = ? {order}",
                (rid,),
            ), "generations", _TYPES["generations"]))
            bad = next((g for g in gens if min(g[1], g[2], g[3]) < 0), None)
            if bad is not None:  # the runtime writes none: a hand-edited or damaged store
                raise StoreError(f"{self.path}: table generations holds replicate {bad[1]}, member {bad[2]}, "
                                 f"generation {bad[3]} of arm {bad[0]!r}, below 0; the store is damaged (restore it "
                                 "from a backup or pass another --out folder)")
            metrics: dict[tuple, dict[str, float]] = {}
            # metrics by primary key, lineage ids and names looked up here: joining them in SQL made SQLite sort
            # every metric row in a temporary B-tree (2.7x slower on 750k rows)
            lineage = {i: (arm, rep, mem) for i, arm, rep, mem in self._typed(c.execute(
                "SELECT id, arm, replicate, member FROM lineages WHERE run_id = ?", (rid,)), "lineages",
                ((int,), (str,), (int,), (int,)))}
            names = dict(self._typed(c.execute("SELECT id, name FROM metric_names"), "metric_names", ((int,), (str,))))
            for lin, gen, name, value in self._typed(c.execute(
                "SELECT lineage, generation, name, value FROM metrics WHERE lineage IN"
                " (SELECT id FROM lineages WHERE run_id = ?) ORDER BY lineage, generation, name", (rid,)
            ), "metrics", ((int,), (int,), (int,), (float, int, type(None)))):
                if name not in names:
                    raise StoreError(f"{self.path}: table metrics names metric id {name} that metric_names lacks; the "
                                     "store is damaged (restore it from a backup or pass another --out folder)")
                metrics.setdefault((*lineage[lin], gen), {})[names[name]] = math.nan if value is None else float(value)
            samples: dict[tuple, list[str]] = {}
            for arm, rep, mem, gen, text in self._typed(c.execute(
                "SELECT arm, replicate, member, generation, text FROM samples WHERE run_id = ?"
                " ORDER BY arm, replicate, member, generation, idx", (rid,),
            ), "samples", _TYPES["samples"]):
                samples.setdefault((arm, rep, mem, gen), []).append(text)
            dists: dict[tuple, list[tuple[str, bytes]]] = {}
            for arm, rep, mem, gen, name, data in self._typed(c.execute(
                "SELECT arm, replicate, member, generation, name, float32 FROM distributions WHERE run_id = ? ORDER BY rowid",
                (rid,),
            ), "distributions", _TYPES["distributions"]):
                dists.setdefault((arm, rep, mem, gen), []).append((name, bytes(data)))
            parents: dict[tuple, list] = {}
            for arm, rep, mem, gen, parent, kind, weight in self._typed(c.execute(
                "SELECT arm, replicate, member, generation, parent, kind, weight FROM parents WHERE run_id = ?"
                " ORDER BY arm, replicate, member, generation, parent, kind", (rid,),
            ), "parents", _TYPES["parents"]):
                parents.setdefault((arm, rep, mem, gen), []).append((parent, float(weight), kind))
        from redqueen.loop.record import Parent

        record = _record_class()
        return [
            record(
                arm=arm, replicate=rep, generation=gen, metrics=metrics.get((arm, rep, mem, gen), {}),
                samples=tuple(samples.get((arm, rep, mem, gen), ())), seconds=float(sec), train_size=size, status=st,
                reason=why, distributions=tuple(dists.get((arm, rep, mem, gen), ())), member=mem,
                parents=tuple(Parent(*p) for p in parents.get((arm, rep, mem, gen), ())),
            )
            for arm, rep, mem, gen, sec, size, st, why in gens
        ]

    def _typed(self, rows: Iterable[tuple], table: str, types: tuple) -> Iterator[tuple]:
        """``rows`` as read, after checking each value's type (SQLite stores any type in any column, so a
        damaged or hand-edited store can hold text where a number belongs)."""
        ok = _type_rows(types)
        for row in rows:
            if tuple(map(type, row)) not in ok:  # one set lookup per row: reading 800k metric rows was 60% checking
                for value, allowed in zip(row, types):
                    if not isinstance(value, allowed) or isinstance(value, bool):
                        where = "/".join(str(v) for v in row[:3])
                        raise StoreError(f"{self.path}: table {table} holds {type(value).__name__} {str(value)[:40]!r} "
                                         f"in row {where}, where a {allowed[0].__name__} belongs; the store is damaged "
                                         "(restore it from a backup or pass another --out folder)")
            yield row

    def _rows_of(self, run_id: str, table: str, last: tuple[str, str], **filters: str | None) -> list[tuple]:
        """``(arm, replicate, generation, *last, member)`` rows of one per-generation table (or the view
        ``metric_rows``) in arm declaration order, filtered on the columns given as keywords (None: no filter)."""
        sql = (f"SELECT t.arm, t.replicate, t.member, t.generation, t.{last[0]}, t.{last[1]} FROM {table} t"
               " JOIN arms a ON a.run_id = t.run_id AND a.arm = t.arm WHERE t.run_id = ?")
        kind = "metrics" if table == "metric_rows" else table
        with self._tx("BEGIN") as c:
            args: list = [self._resolve(c, run_id)]
            for column, value in filters.items():
                if value is not None:
                    sql, args = sql + f" AND t.{column} = ?", args + [value]
            rows = c.execute(sql + f" ORDER BY a.position, t.replicate, t.member, t.generation, t.{last[0]}", args)
            types = (*_KEY, *_TYPES[kind][-2:]) if kind != "samples" else (*_KEY, (int,), (str,))
            return [(a, r, g, x, y, m) for a, r, m, g, x, y in self._typed(rows, kind, types)]

    def iter_rows(self, run_id: str, *, arm: str | None = None, replicate: int | None = None,
                  every: int | None = None, names: Iterable[str] | None = None, ends: bool = False,
                  member: int | None = None) -> Iterator[Row]:
        """Generation rows with their metrics, streamed from SQL in arm declaration order, replicate,
        member, generation: memory stays bounded however large the run, and no record objects are built.

        Filters: ``arm``, ``replicate``, ``member`` (of a population); ``every`` k keeps generations divisible by k and each
        lineage's last; ``names`` keeps only those metrics; ``ends`` keeps each lineage's first and
        last generation. The read is one snapshot (the rows are fetched while iterating; finish or
        close the iterator before writing from the same thread).
        """
        with self._tx("BEGIN") as c:
            rid = self._resolve(c, run_id)
        where, args = ["g.run_id = ?"], [rid]
        if arm is not None:
            where.append("g.arm = ?")
            args.append(arm)
        if replicate is not None:
            where.append("g.replicate = ?")
            args.append(int(replicate))
        if member is not None:
            where.append("g.member = ?")
            args.append(int(member))
        bounds = ("JOIN (SELECT arm, replicate, member, MIN(generation) AS first, MAX(generation) AS last"
                  " FROM generations WHERE run_id = ? GROUP BY arm, replicate, member) b"
                  " ON b.arm = g.arm AND b.replicate = g.replicate AND b.member = g.member")
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
            "SELECT g.arm, g.replicate, g.member, g.generation, g.status, g.reason, n.name, m.value FROM generations g"
            " JOIN arms a ON a.run_id = g.run_id AND a.arm = g.arm "
            + (bounds if ends or every is not None else "")
            + " LEFT JOIN lineages l ON l.run_id = g.run_id AND l.arm = g.arm AND l.replicate = g.replicate"
            " AND l.member = g.member"
            " LEFT JOIN metrics m ON m.lineage = l.id AND m.generation = g.generation" + name_join
            + " LEFT JOIN metric_names n ON n.id = m.name"
            " WHERE " + " AND ".join(where) + " ORDER BY a.position, g.replicate, g.member, g.generation, m.name"
        )
        params = ([rid] if ends or every is not None else []) + (names or []) + args
        with self._tx("BEGIN") as c:
            rows = self._typed(c.execute(sql, params), "metrics", _STREAMED)
            key, row, values = None, None, {}
            for arm_, rep, mem, gen, status, reason, name, value in rows:
                if (arm_, rep, mem, gen) != key:
                    if row is not None:
                        yield Row(*row, values, member=key[2])
                    key, row, values = (arm_, rep, mem, gen), (arm_, rep, gen, status, reason), {}
                if name is not None:
                    values[name] = math.nan if value is None else value
            if row is not None:
                yield Row(*row, values, member=key[2])

    def metrics(self, run_id: str, *, name: str | None = None, arm: str | None = None) -> list[MetricRow]:
        """Long-format metric rows ``(arm, replicate, generation, name, value)``, optionally filtered."""
        rows = self._rows_of(run_id, "metric_rows", ("name", "value"), name=name, arm=arm)
        return [MetricRow(a, r, g, n, math.nan if v is None else v, m) for a, r, g, n, v, m in rows]

    def samples(self, run_id: str, *, arm: str | None = None) -> list[SampleRow]:
        """Readable samples ``(arm, replicate, generation, idx, text)``, optionally of one arm."""
        return [SampleRow(*row) for row in self._rows_of(run_id, "samples", ("idx", "text"), arm=arm)]

    def distributions(self, run_id: str, *, name: str | None = None, arm: str | None = None) -> list[DistributionRow]:
        """Per-item distributions ``(arm, replicate, generation, name, values)``, optionally filtered."""
        rows = self._rows_of(run_id, "distributions", ("name", "float32"), name=name, arm=arm)
        return [DistributionRow(a, r, g, n, np.frombuffer(v, dtype=np.float32), m) for a, r, g, n, v, m in rows]

    def coupling_events(self, run_id: str) -> dict[str, dict[str, tuple[int, float]]]:
        """What a run's couplings did, counted in SQL: per arm and parent kind (``migrant``, ``merge``,
        ``copy``, ``archive``), ``(events, weight)`` -- the member-generations that had such parents and
        the summed weight of their edges (for migrants: the shares of training sets that came from others)."""
        out: dict[str, dict[str, tuple[int, float]]] = {}
        with self._tx("BEGIN") as c:
            rows = c.execute(
                "SELECT arm, kind, COUNT(*), SUM(w) FROM (SELECT arm, kind, SUM(weight) AS w FROM parents"
                " WHERE run_id = ? GROUP BY arm, replicate, member, generation, kind) GROUP BY arm, kind",
                (self._resolve(c, run_id),))
            for arm, kind, events, weight in self._typed(rows, "parents", ((str,), (str,), (int,), (float, int))):
                out.setdefault(arm, {})[kind] = (int(events), float(weight))
        return out

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
            "member": np.array([r.member for r in recs], dtype=np.int64),
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
        """The run's records as a pandas DataFrame, a row per arm x replicate x member x generation
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
                            [r.arm, r.replicate, r.member, r.generation, repr(float(r.seconds)), r.train_size, r.status,
                             r.reason]
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
        "member": pa.array([r.member for r in recs], pa.int64()),
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
