"""The results store: round trips, atomic appends, concurrent writers, run lookup, exports."""

from __future__ import annotations

import csv
import math
import multiprocessing as mp
import pickle
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import pytest

from redqueen.loop.record import GenerationRecord
from redqueen.runtime import store as store_mod
from redqueen.runtime.provenance import git_commit
from redqueen.runtime.store import RunInfo, Store, UnknownRun, evolve_record

ARMS = [("replace", {"regime": "replace"}), ("accumulate", {"regime": "accumulate", "k": 2})]


def rec(arm="replace", replicate=0, generation=0, **metrics) -> GenerationRecord:
    return GenerationRecord(
        arm=arm, replicate=replicate, generation=generation,
        metrics=metrics or {"heterozygosity": 0.5, "kl": 0.1},
        samples=(f"{arm} r{replicate} g{generation}", "a b c"),
        seconds=0.25, train_size=100,
    )


def same(a: GenerationRecord, b: GenerationRecord) -> bool:
    """Equality with NaN == NaN."""
    def eq(x, y):
        return (math.isnan(x) and math.isnan(y)) or x == y
    return (
        (a.arm, a.replicate, a.generation, a.samples, a.seconds, a.train_size, a.status, a.reason)
        == (b.arm, b.replicate, b.generation, b.samples, b.seconds, b.train_size, b.status, b.reason)
        and a.metrics.keys() == b.metrics.keys()
        and all(eq(a.metrics[k], b.metrics[k]) for k in a.metrics)
        and a.distributions == b.distributions
    )


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "runs") as s:
        yield s


def new_run(store, **kw):
    args = dict(name="demo", kind="collapse", config={"world": {"k": 10}, "n": 50}, seed=7, arms=ARMS)
    return store.create_run(**(args | kw))


def test_folder_is_created_and_run_has_provenance(tmp_path):
    s = Store(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b" / "runs.db").exists()
    rid = new_run(s)
    info = s.run(rid)
    assert isinstance(info, RunInfo)
    assert (info.id, info.name, info.kind, info.status, info.seed, info.n_records) == (rid, "demo", "collapse", "running", 7, 0)
    assert info.config == {"world": {"k": 10}, "n": 50}
    assert info.arms == tuple((a, d) for a, d in ARMS)
    from redqueen import __version__
    assert info.version == __version__ and info.python and info.platform
    assert s.path.stat().st_size > 0
    assert sqlite3.connect(s.path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_round_trip_including_inf_and_nan(store):
    rid = new_run(store)
    records = [
        rec("replace", 0, 0, heterozygosity=0.9, kl=0.0, w1=float("nan")),
        rec("replace", 0, 1, heterozygosity=0.8, kl=float("inf"), w1=-float("inf")),
        rec("accumulate", 0, 0, heterozygosity=0.9),
        GenerationRecord("accumulate", 1, 3, {"x": 1e-300, "y": -2.5}, (), 1.5, 7, "diverged", "loss was nan"),
    ]
    assert store.append(rid, records) == 4
    out = store.records(rid)
    assert len(out) == 4
    by_key = {(r.arm, r.replicate, r.generation): r for r in out}
    for r in records:
        assert same(by_key[(r.arm, r.replicate, r.generation)], r)
    assert [r.arm for r in out] == ["replace", "replace", "accumulate", "accumulate"]  # declaration order
    assert store.run(rid).n_records == 4
    rows = store.metrics(rid, name="kl")
    assert [(r.arm, r.generation, r.value) for r in rows] == [("replace", 0, 0.0), ("replace", 1, math.inf)]
    assert math.isnan(store.metrics(rid, name="w1")[0].value)
    assert [s.text for s in store.samples(rid, arm="replace")] == ["replace r0 g0", "a b c", "replace r0 g1", "a b c"]


def test_numpy_scalars_and_ints_are_accepted(store):
    np = pytest.importorskip("numpy")
    rid = new_run(store)
    store.append(rid, [rec(a=np.float32(0.5), b=np.int64(3), c=2)])
    assert store.records(rid)[0].metrics == {"a": 0.5, "b": 3.0, "c": 2.0}


def test_append_is_atomic_on_a_bad_metric(store):
    rid = new_run(store)
    bad = GenerationRecord("replace", 0, 1, {"kl": 0.1, "heterozygosity": "high"})
    with pytest.raises(TypeError, match="heterozygosity"):
        store.append(rid, [rec(generation=0), bad, rec(generation=2)])
    assert store.records(rid) == [] and store.metrics(rid) == [] and store.samples(rid) == []


def test_append_is_atomic_when_the_database_refuses_midway(store):
    rid = new_run(store)
    store.append(rid, [rec(generation=5)])
    # generation 4 is inserted first, then the duplicate generation 5 fails inside the transaction
    with pytest.raises(sqlite3.IntegrityError):
        store.append(rid, [rec(generation=4), rec(generation=5)])
    assert [r.generation for r in store.records(rid)] == [5]
    assert len(store.metrics(rid)) == 2 and len(store.samples(rid)) == 2
    store.append(rid, [rec(generation=6)])  # the connection is usable afterwards
    assert [r.generation for r in store.records(rid)] == [5, 6]


def test_append_is_atomic_when_the_record_source_fails(store):
    rid = new_run(store)

    def source():
        yield rec(generation=0)
        raise RuntimeError("runner crashed")

    with pytest.raises(RuntimeError):
        store.append(rid, source())
    assert store.records(rid) == []


def test_bad_record_status_and_run_status_are_refused(store):
    rid = new_run(store)
    with pytest.raises(ValueError, match="diverged"):
        store.append(rid, [GenerationRecord("replace", 0, 0, {}, status="exploded")])
    with pytest.raises(ValueError, match="done"):
        store.finish(rid, "ok")
    with pytest.raises(ValueError, match="collapse"):
        new_run(store, kind="party")


def test_finish_and_unknown_arms(store):
    rid = new_run(store)
    store.append(rid, [rec("extra", 0, 0)])
    info = store.run(rid)
    assert info.arms[-1] == ("extra", {})
    store.finish(rid, "interrupted")
    info = store.run(rid)
    assert info.status == "interrupted" and info.finished is not None


def test_run_ids_are_unique_even_in_one_second(store, monkeypatch):
    ids = {new_run(store) for _ in range(20)}
    assert len(ids) == 20
    first = next(iter(ids))
    draws = iter([first, first, "20260101-000000-beef"])
    monkeypatch.setattr(store_mod, "new_run_id", lambda now=None: next(draws))
    assert new_run(store) == "20260101-000000-beef"


def test_lookup_by_prefix_latest_and_helpful_unknown(store):
    a = new_run(store, name="first")
    time.sleep(0.002)
    b = new_run(store, name="second")
    assert store.run("latest").id == b
    assert store.run(a).name == "first"
    if not b.startswith(a[:-1]):  # 1 in 4096 chance that the prefix is shared
        assert store.resolve(a[:-1]) == a
    with pytest.raises(KeyError) as err:
        store.run(a[:-2] + "zz")
    msg = str(err.value)
    assert "no run" in msg and a in msg and "latest" in msg
    common = a[:8]  # both start with the same date
    with pytest.raises(UnknownRun, match="matches 2 runs"):
        store.run(common)
    with pytest.raises(KeyError, match="no runs yet"):
        Store(store.folder / "empty").run("latest")
    with pytest.raises(KeyError):
        store.records("nope")


def test_git_commit_is_none_outside_a_repository(tmp_path):
    assert git_commit(tmp_path) is None


def test_store_pickles(store):
    rid = new_run(store)
    clone = pickle.loads(pickle.dumps(store))
    clone.append(rid, [rec()])
    assert store.run(rid).n_records == 1


def test_evolve_records_use_the_metrics_table(store):
    @dataclass(frozen=True)
    class Point:
        method: str
        seed: int
        forward_passes: int
        best_train_acc: float
        test_acc: float
        seconds: float

    rid = new_run(store, kind="evolve", arms=[("m2n2", {}), ("ga", {})])
    store.append(rid, [Point("m2n2", 1, 1000, 0.5, 0.45, 1.0), Point("m2n2", 1, 2000, 0.7, 0.6, 2.0)])
    store.append(rid, [{"method": "ga", "seed": 1, "forward_passes": 1000, "best_train_acc": 0.4,
                        "test_acc": 0.3, "seconds": 1.0}])
    rows = store.metrics(rid, name="test_acc")
    assert [(r.arm, r.replicate, r.generation, r.value) for r in rows] == [
        ("m2n2", 1, 1000, 0.45), ("m2n2", 1, 2000, 0.6), ("ga", 1, 1000, 0.3)]
    assert evolve_record(Point("x", 2, 5, 0.1, 0.2, 0.0)).metrics == {"train_acc": 0.1, "test_acc": 0.2}
    assert evolve_record(Point("x", 2, 5, 0.1, None, 0.0)).metrics == {"train_acc": 0.1}  # not measured here
    assert store.append(rid, []) == 0


def test_export_csv_and_parquet(store, tmp_path):
    rid = new_run(store)
    store.append(rid, [
        rec("replace", 0, 0, h=0.5, kl=float("nan")),
        rec("replace", 0, 1, h=0.25, kl=float("inf")),
        rec("accumulate", 0, 0, h=1.0),
    ])
    path = store.export(rid, tmp_path / "out" / "run.csv")
    assert path.exists() and not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == ["arm", "replicate", "member", "generation", "seconds", "train_size", "status", "reason", "h", "kl"]
    assert [(r["arm"], r["generation"], float(r["h"]), r["kl"]) for r in rows] == [
        ("replace", "0", 0.5, "nan"), ("replace", "1", 0.25, "inf"), ("accumulate", "0", 1.0, "")]

    pq = pytest.importorskip("pyarrow.parquet")
    path = store.export(rid, tmp_path / "run.parquet", fmt="parquet")
    table = pq.read_table(path)
    assert table.schema.metadata[b"redqueen.run_id"].decode() == rid
    cols = table.to_pydict()
    assert cols["arm"] == ["replace", "replace", "accumulate"]
    assert cols["h"] == [0.5, 0.25, 1.0]
    assert math.isnan(cols["kl"][0]) and cols["kl"][1] == math.inf and cols["kl"][2] is None
    with pytest.raises(ValueError, match="csv"):
        store.export(rid, tmp_path / "x.xlsx", fmt="xlsx")
    table = store.table(rid)
    assert table["h"].shape == (3,) and list(table["generation"]) == [0, 1, 0]


# --- concurrency ----------------------------------------------------------------------------------

# the issue asks for 4 writers x 500 generations each, one transaction per generation, with a reader running
N_WRITERS, N_APPENDS, PER_APPEND, N_METRICS = 4, 500, 1, 6


def _writer(folder, run_id, k, ready):
    s = Store(folder)  # its own connection, as a process on another machine would have
    ready.wait()  # all writers start appending at the same moment
    for i in range(N_APPENDS):
        s.append(run_id, [
            GenerationRecord(f"w{k}", rep, i, {f"m{j}": float(i * j) for j in range(N_METRICS)}, ("x", "y", "z"))
            for rep in range(PER_APPEND)
        ])
    s.close()


def _context():
    # fork where there is one: a spawned child spends seconds importing redqueen.loop (scikit-learn, scipy),
    # which would dominate this test; either way each writer opens its own connection after it starts
    return mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")


def test_concurrent_writers_lose_nothing_and_readers_see_whole_generations(tmp_path):
    folder = tmp_path / "shared"
    s = Store(folder)
    rid = s.create_run(name="race", kind="collapse", config={}, seed=0, arms=[(f"w{k}", {}) for k in range(N_WRITERS)])
    ctx = _context()
    ready = ctx.Barrier(N_WRITERS + 1)
    procs = [ctx.Process(target=_writer, args=(folder, rid, k, ready)) for k in range(N_WRITERS)]
    for p in procs:
        p.start()
    ready.wait(60)
    reads = 0
    while any(p.is_alive() for p in procs) or reads == 0:
        out = s.records(rid)
        for r in out:
            assert len(r.metrics) == N_METRICS and r.samples == ("x", "y", "z"), r
        n_metrics = len(s.metrics(rid))
        assert n_metrics % (N_METRICS * PER_APPEND) == 0  # whole appends only
        reads += 1
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    out = s.records(rid)
    assert len(out) == N_WRITERS * N_APPENDS * PER_APPEND
    assert {(r.arm, r.replicate, r.generation) for r in out} == {
        (f"w{k}", rep, i) for k in range(N_WRITERS) for rep in range(PER_APPEND) for i in range(N_APPENDS)}
    assert len(s.metrics(rid)) == len(out) * N_METRICS


def test_export_leaves_nothing_behind_on_failure_and_handles_empty_runs(store, tmp_path, monkeypatch):
    rid = new_run(store)
    assert store.export(rid, tmp_path / "empty.csv").read_text().strip() == \
        "arm,replicate,member,generation,seconds,train_size,status,reason"
    store.append(rid, [rec()])

    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(store_mod, "_write_parquet", broken)
    with pytest.raises(OSError):
        store.export(rid, tmp_path / "run.parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.csv", "runs"]


def test_a_store_from_a_newer_redqueen_is_refused(tmp_path):
    Store(tmp_path).close()
    with sqlite3.connect(tmp_path / "runs.db") as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(RuntimeError, match="newer redqueen"):
        Store(tmp_path)


def test_distributions_round_trip_truncate_and_filter(store):
    import numpy as np

    from redqueen.loop.record import pack_distribution

    rid = new_run(store)
    values = {g: np.arange(5 + g, dtype=np.float64) * 1.5 for g in range(3)}
    recs = [GenerationRecord("replace", 0, g, {"kl": 0.1}, distributions=(("ppl_gen0", pack_distribution(values[g])),))
            for g in range(3)] + [rec("accumulate", 0, 0)]
    store.append(rid, recs)
    back = store.records(rid)
    assert all(same(a, b) for a, b in zip(recs, back))
    assert np.array_equal(back[2].distribution("ppl_gen0"), values[2].astype(np.float32))
    with pytest.raises(KeyError, match="no distribution 'nope'"):
        back[0].distribution("nope")
    rows = store.distributions(rid, name="ppl_gen0", arm="replace")
    assert [(r.generation, len(r.values)) for r in rows] == [(0, 5), (1, 6), (2, 7)]
    store.truncate(rid, "replace", 0, after=0)
    assert [r.generation for r in store.distributions(rid)] == [0]


def test_a_large_distribution_keeps_its_order_statistics():
    import numpy as np

    from redqueen.loop.record import MAX_DISTRIBUTION, pack_distribution

    v = np.random.default_rng(0).lognormal(size=3 * MAX_DISTRIBUTION)
    kept = np.frombuffer(pack_distribution(v), dtype=np.float32)
    assert len(kept) == MAX_DISTRIBUTION and kept[0] == np.float32(v.min()) and kept[-1] == np.float32(v.max())
    for q in (1, 50, 99):
        assert np.percentile(kept, q) == pytest.approx(np.percentile(v, q), rel=1e-3)


def test_a_bad_distribution_is_refused_before_writing(store):
    rid = new_run(store)
    with pytest.raises(TypeError, match="pack_distribution"):
        store.append(rid, [rec(), GenerationRecord("replace", 0, 1, {}, distributions=(("x", b"abc"),))])
    assert store.records(rid) == []


@pytest.mark.parametrize("version", [1, 2, 3])
def test_a_store_from_an_older_schema_is_migrated_with_every_record_into_compact_metrics(tmp_path, version):
    """Schema 4 keys metrics by integer lineage and metric-name ids; older stores are rebuilt on open, NaN, inf,
    samples and truncation intact, and the view metric_rows spells the old long table out for SQL users."""
    from redqueen.runtime import migrations

    tmp_path.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(tmp_path / "runs.db", isolation_level=None)
    for step in migrations.STEPS[:version]:
        step.apply(conn)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.execute("INSERT INTO runs (id, name, created, finished, status, kind, config, seed, version, git_commit, python,"
                 " platform) VALUES ('r1', 'old', '2026-01-01T00:00:00', NULL, 'done', 'collapse', '{}', 1, '0.1.0', NULL,"
                 " '3.11', 'linux')")
    conn.executemany("INSERT INTO arms VALUES ('r1', ?, ?, '{}')", [("replace", 0), ("fresh", 1)])
    for arm in ("replace", "fresh"):
        for g in range(3):
            conn.execute("INSERT INTO generations VALUES ('r1', ?, 0, ?, 0.5, 100, 'ok', '')", (arm, g))
            conn.executemany("INSERT INTO metrics VALUES ('r1', ?, 0, ?, ?, ?)",
                             [(arm, g, "kl", 0.1 * g), (arm, g, "nll_real", math.inf), (arm, g, "w1", None)])
            conn.execute("INSERT INTO samples VALUES ('r1', ?, 0, ?, 0, 'a b')", (arm, g))
    conn.close()
    s = Store(tmp_path)
    with sqlite3.connect(tmp_path / "runs.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == store_mod.SCHEMA_VERSION == migrations.LATEST
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("SELECT COUNT(*) FROM metric_rows WHERE run_id = 'r1' AND name = 'kl'").fetchone()[0] == 6
    back = s.records("r1")
    assert [(r.arm, r.generation, r.member) for r in back] == [(a, g, 0) for a in ("replace", "fresh") for g in range(3)]
    assert back[2].metrics["kl"] == pytest.approx(0.2) and back[2].metrics["nll_real"] == math.inf
    assert math.isnan(back[2].metrics["w1"]) and back[2].samples == ("a b",)
    assert s.distributions("r1") == []
    with s._tx("BEGIN IMMEDIATE") as c:  # the old run was 'done'; writing to it again is this test's business
        c.execute("UPDATE runs SET status = 'interrupted' WHERE id = 'r1'")
    s.append("r1", [rec("replace", 0, 3)])  # and the migrated store takes new records
    s.truncate("r1", "fresh", 0, after=0)
    assert [(r.arm, r.generation) for r in s.records("r1")] == [("replace", g) for g in range(4)] + [("fresh", 0)]
    assert {r.name for r in s.metrics("r1", arm="fresh")} == {"kl", "nll_real", "w1"}


def test_members_and_their_parents_round_trip_and_truncate_together(store):
    from redqueen.loop.record import Parent

    rid = new_run(store)
    recs = [GenerationRecord("replace", 0, g, {"kl": 0.1 * g + m}, member=m,
                             parents=(Parent((m + 1) % 3, 0.25, "migrant"),) if g else ())
            for g in range(3) for m in range(3)]
    store.append(rid, recs)
    back = store.records(rid)
    assert [(r.member, r.generation) for r in back] == [(m, g) for m in range(3) for g in range(3)]
    by = {(r.member, r.generation): r for r in back}
    assert by[(2, 1)].metrics == {"kl": pytest.approx(2.1)} and by[(2, 1)].parents == (Parent(0, 0.25, "migrant"),)
    store.truncate(rid, "replace", 0, after=0)  # every member of the population
    assert sorted((r.member, r.generation) for r in store.records(rid)) == [(0, 0), (1, 0), (2, 0)]
    with store._tx("BEGIN") as c:
        assert c.execute("SELECT COUNT(*) FROM parents").fetchone()[0] == 0


def test_metrics_take_tens_of_bytes_a_record(tmp_path):
    """Schema 2 needed ~1.4 kB per record of 11 metrics (56 MB for 40,800); schema 3 stays near 0.3 kB."""
    s = Store(tmp_path)
    rid = new_run(s, arms=[(f"arm {i}", {}) for i in range(4)])
    names = ["heterozygosity", "hill0", "hill1", "hill2", "entropy", "types_lost", "tail_mass_kept", "kl", "tv", "js",
             "inbreeding"]
    rng = __import__("numpy").random.default_rng(0)
    for arm in range(4):
        s.append(rid, [GenerationRecord(f"arm {arm}", r, g, dict(zip(names, rng.random(len(names)).tolist())))
                       for r in range(50) for g in range(51)])
    s.close()
    per_record = (tmp_path / "runs.db").stat().st_size / (4 * 50 * 51)
    assert per_record < 400, per_record


# --- schema migrations ----------------------------------------------------------------------------

FIXTURE = Path(__file__).parent / "data" / "store-v2" / "runs.db"  # written by schema 2 (redqueen 0.1.0, before leases)


def _store_at(folder, version):
    """A store as an older redqueen left it: the migration steps up to ``version`` and one run in it
    (version 0: the first tables, written before the version was stamped)."""
    from redqueen.runtime import migrations

    folder.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(folder / "runs.db", isolation_level=None)
    for step in migrations.STEPS[:max(version, 1)]:
        step.apply(conn)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.execute("INSERT INTO runs VALUES ('r1', 'old', '2025-01-01', NULL, 'running', 'collapse', '{}', 3, '0.0.9', NULL, "
                 "'3.11', 'linux')")
    conn.execute("INSERT INTO arms VALUES ('r1', 'a', 0, '{}')")
    conn.execute("INSERT INTO generations VALUES ('r1', 'a', 0, 0, 0.5, 10, 'ok', '')")
    conn.execute("INSERT INTO metrics VALUES ('r1', 'a', 0, 0, 'h', 0.25)")
    conn.close()


COMPACT_3 = Path(__file__).parent / "data" / "store-v3-compact"  # written by released redqueen (commit f2c7d30)


def test_released_compact_schema_3_is_upgraded_with_every_record(tmp_path):
    """Released redqueen stamped version 3 on compact metrics without leases or kind tables; that store
    opens, upgrades once, and reads back every record its own code wrote (tests/data/store-v3-compact/
    expected.json, exported by that code)."""
    import json
    import shutil

    from redqueen.runtime import migrations

    shutil.copy(COMPACT_3 / "runs.db", tmp_path / "runs.db")
    want = json.loads((COMPACT_3 / "expected.json").read_text())
    s = Store(tmp_path)
    with sqlite3.connect(tmp_path / "runs.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == migrations.LATEST
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    info = s.run(want["run"])
    assert info.status == want["status"] == "done" and s.check(info.id).whole
    got = [{"arm": r.arm, "replicate": r.replicate, "generation": r.generation, "train_size": r.train_size,
            "metrics": {k: (None if math.isnan(v) else v) for k, v in r.metrics.items()}, "samples": list(r.samples)}
           for r in s.records(info.id)]
    assert got == want["records"] and all(r.member == 0 and r.parents == () for r in s.records(info.id))
    rid = new_run(s)  # and it takes new runs
    s.append(rid, [rec()])
    assert len(s.records(rid)) == 1


@pytest.mark.parametrize("version", [0, 1, 2])
def test_every_older_schema_is_upgraded_in_place_and_keeps_its_records(tmp_path, version):
    from redqueen.runtime import migrations

    _store_at(tmp_path, version)
    s = Store(tmp_path)
    assert sqlite3.connect(tmp_path / "runs.db").execute("PRAGMA user_version").fetchone()[0] == migrations.LATEST
    assert [(r.arm, r.generation, r.metrics) for r in s.records("r1")] == [("a", 0, {"h": 0.25})]
    assert s.run("r1").status == "killed"  # 'running' with no owner: nobody is writing it
    rid = new_run(s)
    s.append(rid, [rec()])
    assert len(s.records(rid)) == 1 and s.distributions(rid) == []


def test_the_committed_schema_2_store_opens_upgraded_with_every_record(tmp_path):
    shutil.copy(FIXTURE, tmp_path / "runs.db")
    before = sqlite3.connect(tmp_path / "runs.db")
    assert before.execute("PRAGMA user_version").fetchone()[0] == 2
    counts = {t: before.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("runs", "generations", "metrics", "samples")}
    before.close()
    s = Store(tmp_path)
    done, killed = s.runs()
    assert (done.status, killed.status) == ("done", "killed")
    assert s.check(done.id).whole
    assert [p.what for p in s.check(killed.id).problems] == ["unfinished"] * 4  # 2 arms x 2 replicates, up to gen 1
    after = sqlite3.connect(tmp_path / "runs.db")
    assert {t: after.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in counts} == counts
    assert s.kinds().keys() == {"collapse", "evolve", "theory"}


def test_two_processes_opening_an_old_store_upgrade_it_once(tmp_path):
    shutil.copy(FIXTURE, tmp_path / "runs.db")
    ctx = _context()
    procs = [ctx.Process(target=Store, args=(tmp_path,)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    ids = sqlite3.connect(tmp_path / "runs.db").execute("SELECT COUNT(*) FROM store_info").fetchone()[0]
    assert ids == 1 and len(Store(tmp_path).runs()) == 2


def test_a_new_run_kind_is_one_insert_not_a_table_rebuild(store):
    with pytest.raises(ValueError, match="collapse"):
        new_run(store, kind="population")
    with store._tx("BEGIN IMMEDIATE") as c:  # what a later migration step does
        c.execute("INSERT INTO run_kinds VALUES ('population', 'P member lineages per arm x replicate')")
    rid = new_run(store, kind="population")
    assert store.run(rid).kind == "population"


def test_a_failed_migration_leaves_the_old_version(tmp_path, monkeypatch):
    from redqueen.runtime import migrations

    shutil.copy(FIXTURE, tmp_path / "runs.db")

    def broken(c):
        c.execute("CREATE TABLE half_done (x)")
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(migrations, "STEPS", (*migrations.STEPS, migrations.Step(99, "broken", broken)))
    monkeypatch.setattr(migrations, "LATEST", 99)
    with pytest.raises(store_mod.StoreError, match="disk I/O error"):
        Store(tmp_path)
    conn = sqlite3.connect(tmp_path / "runs.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name IN ('half_done', 'leases')").fetchall()


# --- foreign and damaged stores -------------------------------------------------------------------


def test_another_programs_database_is_refused_in_one_line(tmp_path):
    conn = sqlite3.connect(tmp_path / "runs.db")
    conn.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, distance REAL)")
    conn.execute("INSERT INTO runs VALUES (1, 5.0)")
    conn.commit()
    conn.close()
    with pytest.raises(store_mod.StoreError, match="not a redqueen results store") as err:
        Store(tmp_path)
    assert "\n" not in str(err.value)
    assert sqlite3.connect(tmp_path / "runs.db").execute("SELECT * FROM runs").fetchall() == [(1, 5.0)]  # untouched
    conn = sqlite3.connect(tmp_path / "other.db")
    conn.execute("PRAGMA application_id = 1234")
    conn.execute("PRAGMA user_version = 7")
    conn.close()
    (tmp_path / "runs.db").unlink()
    (tmp_path / "other.db").rename(tmp_path / "runs.db")
    with pytest.raises(store_mod.StoreError, match="another program"):
        Store(tmp_path)


def _damage(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def test_a_garbage_page_or_file_is_one_line(tmp_path):
    s = Store(tmp_path / "a")
    rid = new_run(s)
    s.append(rid, [rec(generation=g) for g in range(200)])
    s.close()
    db = tmp_path / "a" / "runs.db"
    _damage(db, 4096 * 3, bytes(range(256)) * 16)  # a page of garbage in the middle
    with pytest.raises(store_mod.StoreError, match="damaged") as err:
        Store(tmp_path / "a").records(rid)
    assert "\n" not in str(err.value)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "runs.db").write_bytes(b"PK\x03\x04 this is a zip file, not SQLite" * 100)
    with pytest.raises(store_mod.StoreError, match="damaged or not a SQLite database"):
        Store(tmp_path / "b")


def test_stored_values_of_the_wrong_type_are_one_line(store):
    rid = new_run(store)
    store.append(rid, [rec()])
    with store._tx("BEGIN IMMEDIATE") as c:
        c.execute("UPDATE metrics SET value = 'high' WHERE name = (SELECT id FROM metric_names WHERE name = 'kl')")
    with pytest.raises(store_mod.StoreError, match="table metrics holds str 'high'"):
        store.records(rid)
    with pytest.raises(store_mod.StoreError, match="damaged"):
        store.metrics(rid)
    with store._tx("BEGIN IMMEDIATE") as c:
        c.execute("UPDATE runs SET config = '{not json' WHERE id = ?", (rid,))
    with pytest.raises(store_mod.StoreError, match="stored config is not valid JSON"):
        store.run(rid)
    with store._tx("BEGIN IMMEDIATE") as c:
        c.execute("UPDATE runs SET config = ? WHERE id = ?", ("[" * 100_000 + "]" * 100_000, rid))
    with pytest.raises(store_mod.StoreError, match="not valid JSON"):
        store.runs()


# --- the store deleted or replaced while a run writes it ------------------------------------------


@pytest.mark.parametrize("how", ["db and wal", "folder", "wal only", "replaced"])
def test_a_store_deleted_or_replaced_mid_run_stops_the_writer(tmp_path, how):
    folder = tmp_path / "runs"
    s = Store(folder)
    rid = new_run(s)
    s.append(rid, [rec(generation=0)])
    if how == "db and wal":
        for name in ("runs.db", "runs.db-wal", "runs.db-shm"):
            (folder / name).unlink()
    elif how == "folder":
        shutil.rmtree(folder)
    elif how == "wal only":
        (folder / "runs.db-wal").unlink()
    else:
        Store(tmp_path / "other").close()
        (tmp_path / "other" / "runs.db").replace(folder / "runs.db")
    with pytest.raises(store_mod.StoreGone, match="while this process was writing it") as err:
        s.append(rid, [rec(generation=1)])
    assert "\n" not in str(err.value)
    with pytest.raises(store_mod.StoreGone):
        s.finish(rid)


# --- run ownership: leases ------------------------------------------------------------------------


def _hold_run(folder, run_id, ready, stop):
    s = Store(folder)
    s.acquire(run_id)
    ready.set()
    stop.wait(60)


def test_a_live_run_cannot_be_acquired_and_a_killed_owner_frees_it(tmp_path):
    import os
    import signal

    s = Store(tmp_path)
    rid = new_run(s)
    s.finish(rid, "interrupted")
    ctx = _context()
    ready, stop = ctx.Event(), ctx.Event()
    owner = ctx.Process(target=_hold_run, args=(tmp_path, rid, ready, stop))
    owner.start()
    assert ready.wait(60)
    info = s.run(rid)
    assert info.status == "running" and info.live and f"pid {owner.pid}" in info.owner
    with pytest.raises(store_mod.RunBusy, match=f"pid {owner.pid}") as err:
        s.acquire(rid)
    assert "\n" not in str(err.value)
    with pytest.raises(store_mod.RunBusy):
        s.truncate(rid, "replace", 0, after=-1)
    with pytest.raises(store_mod.RunBusy):
        s.finish(rid, "interrupted")
    os.kill(owner.pid, signal.SIGKILL)
    owner.join(30)
    info = s.run(rid)
    assert info.status == "killed" and not info.live  # at once: the owner's pid is gone on this host
    assert s.acquire(rid) == rid and s.run(rid).live


def test_a_lease_from_another_host_lives_by_its_heartbeat(store, monkeypatch):
    import time as _time

    from redqueen.runtime import lease

    rid = new_run(store)
    store.finish(rid, "interrupted")
    with store._tx("BEGIN IMMEDIATE") as c:
        c.execute("INSERT INTO leases VALUES (?, 'tok', 4242, '1', 'elsewhere', 'boot', 'ann', '2026', ?)",
                  (rid, _time.time()))
        c.execute("UPDATE runs SET status = 'running' WHERE id = ?", (rid,))
    assert store.run(rid).owner == "ann (pid 4242 on elsewhere)"
    with pytest.raises(store_mod.RunBusy, match="ann"):
        store.acquire(rid)
    monkeypatch.setattr(lease, "LEASE_TTL_S", 0.0)  # its heartbeat is now too old
    assert store.run(rid).status == "killed"
    assert store.acquire(rid) == rid


def test_a_writer_whose_lease_was_taken_over_stops(store):
    rid = new_run(store)
    store.append(rid, [rec(generation=0)])
    with store._tx("BEGIN IMMEDIATE") as c:  # another machine took the run after this one's heartbeat stopped
        c.execute("UPDATE leases SET token = 'theirs', host = 'elsewhere', user = 'bob' WHERE key = ?", (rid,))
    with pytest.raises(store_mod.RunBusy, match="taken over by bob"):
        store.append(rid, [rec(generation=1)])
    assert [r.generation for r in store.records(rid)] == [0]


def test_the_heartbeat_renews_the_lease(tmp_path, monkeypatch):
    from redqueen.runtime import lease

    monkeypatch.setattr(lease, "HEARTBEAT_S", 0.05)
    s = Store(tmp_path)
    monkeypatch.setattr(lease.Heartbeat.__init__, "__defaults__", (0.05,))
    rid = new_run(s)
    beat = lambda: sqlite3.connect(tmp_path / "runs.db").execute(  # noqa: E731
        "SELECT heartbeat FROM leases WHERE key = ?", (rid,)).fetchone()[0]
    first = beat()
    time.sleep(0.5)
    assert beat() > first
    s.finish(rid, "interrupted")
    assert sqlite3.connect(tmp_path / "runs.db").execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0


def test_claims_let_one_process_take_a_key(tmp_path):
    a, b = Store(tmp_path), Store(tmp_path)
    assert a.claim("config:abc") is None
    assert a.claim("config:abc") is None  # again by the holder: still held
    assert "pid" in b.claim("config:abc")  # another writer, even in this process
    a.release("config:abc")
    assert b.claim("config:abc") is None


# --- is a run whole? ------------------------------------------------------------------------------

CFG = {"generations": 3, "replicates": 2, "arms": [{"name": "replace"}, {"name": "accumulate"}]}


def _whole_run(store):
    rid = new_run(store, config=CFG)
    store.append(rid, [rec(arm, r, g) for arm, _ in ARMS for r in range(2) for g in range(4)])
    return rid


def test_check_finds_gaps_missing_lineages_and_records_after_an_end(store):
    rid = _whole_run(store)
    assert store.check(rid).whole
    store.truncate(rid, "replace", 1, after=-1)  # a whole lineage gone
    with store._tx("BEGIN IMMEDIATE") as c:
        c.execute("DELETE FROM metrics WHERE generation = 1 AND lineage = (SELECT id FROM lineages WHERE run_id = ? AND"
                  " arm = 'accumulate' AND replicate = 0)", (rid,))
        c.execute("DELETE FROM samples WHERE run_id = ? AND arm = 'accumulate' AND replicate = 0 AND generation = 1", (rid,))
        c.execute("DELETE FROM generations WHERE run_id = ? AND arm = 'accumulate' AND replicate = 0 AND generation = 1",
                  (rid,))
        c.execute("UPDATE generations SET status = 'diverged' WHERE run_id = ? AND arm = 'accumulate' AND replicate = 1"
                  " AND generation = 2", (rid,))
    store.append(rid, [rec("nobody", 0, 0)])
    problems = {(p.lineage, p.what): p for p in store.check(rid).problems}
    assert set(problems) == {(("replace", 1, 0), "missing"), (("accumulate", 0, 0), "gap"),
                             (("accumulate", 1, 0), "after end"), (("nobody", 0, 0), "unplanned")}
    assert problems[(("accumulate", 0, 0), "gap")].first_bad == 1
    assert "generations 1 are missing" in problems[(("accumulate", 0, 0), "gap")].detail


def test_a_run_with_a_gap_is_never_marked_done_and_acquire_drops_what_follows_the_gap(store):
    rid = _whole_run(store)
    with store._tx("BEGIN IMMEDIATE") as c:
        c.execute("DELETE FROM metrics WHERE generation = 2 AND lineage = (SELECT id FROM lineages WHERE run_id = ? AND"
                  " arm = 'replace' AND replicate = 0)", (rid,))
        for t in ("samples", "generations"):
            c.execute(f"DELETE FROM {t} WHERE run_id = ? AND arm = 'replace' AND replicate = 0 AND generation = 2", (rid,))
    with pytest.raises(store_mod.IncompleteRun, match="generations 2 are missing"):
        store.finish(rid, "done")
    info = store.run(rid)
    assert info.status == "failed" and "records missing" in info.reason
    store.acquire(rid)  # what resume does first
    gens = sorted(r.generation for r in store.records(rid) if (r.arm, r.replicate) == ("replace", 0))
    assert gens == [0, 1]
    assert [p.what for p in store.check(rid).problems] == ["unfinished"]


def test_resume_refuses_changed_data_files(store):
    digest = {"/data/corpus.txt": {"sha256": "a" * 64, "bytes": 10}}
    rid = store.create_run(name="t", kind="collapse", config={}, seed=0, arms=[("a", {})], data=digest)
    store.finish(rid, "interrupted")
    assert store.run(rid).meta["data"] == digest
    with pytest.raises(store_mod.DataChanged, match="corpus.txt with sha256 aaaaaaaaaaaa") as err:
        store.acquire(rid, data={"/data/corpus.txt": {"sha256": "b" * 64, "bytes": 11}})
    assert "\n" not in str(err.value)
    with pytest.raises(store_mod.DataChanged, match="is gone"):
        store.acquire(rid, data={})
    assert store.acquire(rid, data=digest) == rid


def test_runs_store_their_libraries_and_the_source_commit(store):
    from redqueen.runtime.provenance import source_commit

    info = store.run(new_run(store))
    libs = info.meta["provenance"]["libraries"]
    assert libs["numpy"] == np.__version__ and "scikit-learn" in libs and "scipy" in libs
    assert info.commit == source_commit() == info.meta["provenance"]["source"]["commit"]


def test_the_commit_is_redqueens_not_the_working_directorys(tmp_path, monkeypatch):
    import subprocess

    import importlib

    provenance = importlib.import_module("redqueen.runtime.provenance")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q",
                    "--allow-empty", "-m", "x"], check=True)
    monkeypatch.chdir(tmp_path)
    theirs = provenance.git_commit(tmp_path)
    provenance.source_commit.cache_clear()
    assert provenance.provenance()["git_commit"] != theirs


def test_check_plans_each_arms_members_once_the_store_keys_records_by_member():
    from redqueen.runtime.integrity import check_rows

    cfg = {"generations": 1, "replicates": 1, "arms": [{"name": "solo"}, {"name": "pop", "members": 3}]}
    rows = [("solo", 0, 0, g, "ok") for g in (0, 1)]
    rows += [("pop", 0, m, g, "ok") for m in range(3) for g in (0, 1) if (m, g) != (2, 1)]
    problems = check_rows(cfg, ("arm", "replicate", "member"), rows)
    assert [(p.lineage, p.what) for p in problems] == [(("pop", 0, 2), "unfinished")]
    more = check_rows(cfg, ("arm", "replicate", "member"), rows + [("solo", 0, 1, 0, "ok")])
    assert {(p.lineage, p.what) for p in more} == {(("pop", 0, 2), "unfinished"), (("solo", 0, 1), "unplanned")}


def test_a_wheel_built_from_the_checkout_records_its_commit(tmp_path):
    """`pip install .` installs a wheel, which is not a git checkout: setup.py writes the commit it was built from into
    it, and a run of that installed redqueen records it (it recorded 'unknown')."""
    import os
    import subprocess
    import sys
    import zipfile

    root = Path(__file__).resolve().parent.parent
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    if head.returncode != 0 or not (root / "setup.py").is_file():
        pytest.skip("not a git checkout of redqueen")
    subprocess.run(["git", "clone", "-q", str(root), str(tmp_path / "src")], check=True)  # built as a user's clone is
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "w"),
                            str(tmp_path / "src")], capture_output=True, text=True, timeout=600)
    if built.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {built.stderr.strip().splitlines()[-1:]}")
    (wheel,) = (tmp_path / "w").glob("redqueen-*.whl")
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    code = "from redqueen.runtime.provenance import source_commit; print(source_commit())"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(tmp_path / "site")})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == head.stdout.strip()  # the clone's commit, clean


def test_a_generation_that_failed_has_no_metrics_and_the_run_is_still_whole(store):
    """Only an ok generation must have metric rows: a population that raised stores records without them."""
    from dataclasses import replace

    rid = new_run(store, config=CFG)
    store.append(rid, [rec(arm, r, g) for arm, _ in ARMS for r in range(2) for g in range(4 if r else 2)])
    store.append(rid, [replace(rec(arm, 0, 2), metrics={}, status="failed", reason="x") for arm, _ in ARMS])
    assert store.check(rid).whole
    store.append(rid, [replace(rec("replace", 0, 3), metrics={})])  # an ok record without metrics, after the end
    assert {p.what for p in store.check(rid).problems} == {"after end", "unmeasured"}


def test_reading_an_old_store_read_only_leaves_it_as_it_was(tmp_path):
    """A read-only open of an older store (what every command that only reads uses, and the library's
    write_report and plot) reads it through an upgraded copy in memory: no byte of runs.db changes, so the
    redqueen that wrote it can still read it. Opening it to write upgrades it, as before."""
    import hashlib

    from redqueen.report import write_report

    shutil.copy(FIXTURE, tmp_path / "runs.db")

    def digest():
        return hashlib.sha256((tmp_path / "runs.db").read_bytes()).hexdigest()

    before = digest()
    with Store(tmp_path, readonly=True) as s:
        done, killed = s.runs()
        assert s.check(done.id).whole and len(s.records(done.id)) == 16 and s.frame(done.id).shape[0] == 16
    write_report(tmp_path, [done.id], tmp_path / "r.html")
    assert digest() == before
    assert sqlite3.connect(tmp_path / "runs.db").execute("PRAGMA user_version").fetchone()[0] == 2
    Store(tmp_path).close()
    assert sqlite3.connect(tmp_path / "runs.db").execute("PRAGMA user_version").fetchone()[0] == store_mod.SCHEMA_VERSION
