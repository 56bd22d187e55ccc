"""The results store: round trips, atomic appends, concurrent writers, run lookup, exports."""

from __future__ import annotations

import csv
import math
import multiprocessing as mp
import pickle
import sqlite3
import time
from dataclasses import dataclass

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
    assert list(rows[0]) == ["arm", "replicate", "generation", "seconds", "train_size", "status", "reason", "h", "kl"]
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
        "arm,replicate,generation,seconds,train_size,status,reason"
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


def _old_store(folder, version: int) -> str:
    """A database as schema 1 or 2 wrote it (schema 1: no distributions table), with one run."""
    folder.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(folder / "runs.db") as conn:
        conn.executescript(store_mod.SCHEMA)
        if version < 2:
            conn.execute("DROP TABLE distributions")
        conn.execute("INSERT INTO runs VALUES ('r1', 'old', '2026-01-01T00:00:00', NULL, 'done', 'collapse', '{}', 1,"
                     " '0.1.0', NULL, '3.11', 'linux')")
        conn.executemany("INSERT INTO arms VALUES ('r1', ?, ?, '{}')", [("replace", 0), ("fresh", 1)])
        for arm in ("replace", "fresh"):
            for g in range(3):
                conn.execute("INSERT INTO generations VALUES ('r1', ?, 0, ?, 0.5, 100, 'ok', '')", (arm, g))
                conn.executemany("INSERT INTO metrics VALUES ('r1', ?, 0, ?, ?, ?)",
                                 [(arm, g, "kl", 0.1 * g), (arm, g, "nll_real", math.inf), (arm, g, "w1", None)])
                conn.execute("INSERT INTO samples VALUES ('r1', ?, 0, ?, 0, 'a b')", (arm, g))
        conn.execute(f"PRAGMA user_version = {version}")
    return "r1"


@pytest.mark.parametrize("version", [1, 2])
def test_a_store_from_an_older_schema_is_migrated_with_every_record(tmp_path, version):
    rid = _old_store(tmp_path, version)
    s = Store(tmp_path)
    with sqlite3.connect(tmp_path / "runs.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == store_mod.SCHEMA_VERSION == 3
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        # the view spells the old long table out for SQL users
        assert conn.execute("SELECT COUNT(*) FROM metric_rows WHERE run_id = 'r1' AND name = 'kl'").fetchone()[0] == 6
    back = s.records(rid)
    assert [(r.arm, r.generation) for r in back] == [(a, g) for a in ("replace", "fresh") for g in range(3)]
    assert back[2].metrics["kl"] == pytest.approx(0.2) and back[2].metrics["nll_real"] == math.inf
    assert math.isnan(back[2].metrics["w1"]) and back[2].samples == ("a b",)
    assert s.distributions(rid) == []
    s.append(rid, [rec("replace", 0, 3)])  # and the migrated store takes new records
    s.truncate(rid, "fresh", 0, after=0)
    assert [(r.arm, r.generation) for r in s.records(rid)] == [("replace", g) for g in range(4)] + [("fresh", 0)]
    assert {r.name for r in s.metrics(rid, arm="fresh")} == {"kl", "nll_real", "w1"}


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
