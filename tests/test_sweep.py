"""Sweeps: the grid, a process pool (and Ray when installed) giving serial's records, and Ctrl-C then continue."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from redqueen.cli import main
from redqueen.runtime import config as C
from redqueen.runtime.executors import PoolExecutor, make_executor
from redqueen.runtime.runner import run_experiment
from redqueen.runtime.store import Store

SRC = str(Path(__file__).resolve().parent.parent / "src")
SWEEP = """
name = "sw"
generations = GENS
n = 3000
replicates = 2
[world]
kind = "zipf"
k = 2000
[family]
kind = "categorical"
[[arms]]
name = "replace"
[[arms]]
name = "fresh"
regime = "fresh"
[sweep]
seeds = [1, 2]
n = [1000, 4000]
"""


def _by_key(records):
    return {(r.arm, r.replicate, r.generation): r.metrics for r in records}


def test_grid_expands_seeds_and_sizes(tmp_path):
    exp = C.validate(__import__("tomllib").loads(SWEEP.replace("GENS", "3")))
    grid = exp.grid()
    assert [(e.seed, e.n) for e in grid] == [(1, 1000), (1, 4000), (2, 1000), (2, 4000)]
    assert all(e.sweep is None for e in grid)


def test_pool_gives_the_serial_records(tmp_path):
    exp = C.validate(__import__("tomllib").loads(SWEEP.replace("GENS", "5"))).grid()[0]
    serial = run_experiment(exp, store=Store(tmp_path / "s"))
    pool = PoolExecutor(2)
    try:
        pooled = run_experiment(exp, store=Store(tmp_path / "p"), executor=pool)
    finally:
        pool.close()
    assert _by_key(serial.records) == _by_key(pooled.records)
    assert Store(tmp_path / "p").run("latest").status == "done"


def test_ray_gives_the_serial_records(tmp_path):
    pytest.importorskip("ray")
    exp = C.validate(__import__("tomllib").loads(SWEEP.replace("GENS", "3"))).grid()[0]
    serial = run_experiment(exp)
    ray_dir = Path("/tmp") / f"rq-ray-{os.getpid()}"  # Ray's socket paths must stay short
    ex = make_executor("ray", workers=2, temp_dir=ray_dir)
    try:
        remote = run_experiment(exp, store=Store(tmp_path / "r"), executor=ex)
    finally:
        ex.close()
    assert _by_key(serial.records) == _by_key(remote.records)


def test_unknown_executor_is_one_line(tmp_path, capsys):
    p = tmp_path / "s.toml"
    p.write_text(SWEEP.replace("GENS", "2"))
    assert main(["sweep", str(p), "--executor", "slurm", "-o", str(tmp_path / "o")]) == 2
    assert "unknown executor 'slurm'" in capsys.readouterr().err


def test_ctrl_c_then_second_sweep_continues(tmp_path):
    p = tmp_path / "s.toml"
    # 5,000 generations: ~5 s of work on an idle machine, so the Ctrl-C below always lands mid-sweep
    # (at 200 generations an idle machine finished the whole sweep before it)
    p.write_text(SWEEP.replace("GENS", "5000"))
    out = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": SRC}
    cmd = [sys.executable, "-m", "redqueen", "sweep", str(p), "-o", str(out), "--workers", "2"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until the sweep's runs exist (work under way), then press Ctrl-C
        time.sleep(0.2)
        if (out / "runs.db").exists() and len(Store(out).runs()) == 4:
            break
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=120)[1].decode()
    assert proc.returncode in (0, 130), err
    assert "Traceback" not in err
    statuses = {i.status for i in Store(out).runs()}
    assert statuses <= {"done", "interrupted"} and "interrupted" in statuses, statuses
    assert main(["sweep", str(p), "-o", str(out), "--workers", "2"]) == 0
    runs = Store(out).runs()
    assert len(runs) == 4 and all(i.status == "done" for i in runs)
    # every grid point equals a serial run of that point
    grid = C.load(p).grid()
    for exp in grid[:2]:
        info = next(i for i in runs if i.name == exp.name)
        assert _by_key(Store(out).records(info.id)) == _by_key(run_experiment(exp).records)


def test_sweep_output_names_grid_points_and_the_full_report_command(tmp_path, capsys):
    p = tmp_path / "s.toml"
    p.write_text(SWEEP.replace("GENS", "1").replace("n = 3000", "n = 300").replace("n = [1000, 4000]", "n = [100, 200]"))
    out = tmp_path / "runs"
    assert main(["sweep", str(p), "-o", str(out), "--executor", "serial"]) == 0
    text = capsys.readouterr().out
    ids = [i.id for i in Store(out).runs()]
    for seed in (1, 2):
        for n in (100, 200):
            assert f"(seed={seed} n={n}): replace ok, fresh ok" in text
    command = next(line.strip() for line in text.splitlines() if line.strip().startswith("redqueen report"))
    assert "..." not in command and command.split()[2:6] == ids and f"-o {out}" in command
    # the printed command works as it is
    assert main(command.split()[1:-2] + ["-p", str(tmp_path / "all.html")]) == 0
    assert main(["sweep", str(p), "-o", str(out), "--executor", "serial"]) == 0  # all done: still says how to compare
    assert "redqueen report " + " ".join(ids) in capsys.readouterr().out
    assert main(["list", "-o", str(out)]) == 0
    assert "seed=2 n=200" in capsys.readouterr().out


def test_sweep_sizes_its_grid_points_alone_and_side_by_side(tmp_path, capsys, monkeypatch):
    """A sweep's pool runs every grid point's populations together: a grid point too large alone, or the
    workers' largest populations (from any grid points) too large side by side, is refused in one line before
    anything is written."""
    from redqueen.runtime import memory

    cfg = tmp_path / "sw.toml"  # points: memory grows with n (a categorical world's does not)
    cfg.write_text(SWEEP.replace("GENS", "2").replace('kind = "zipf"\nk = 2000', 'kind = "gaussian"\nd = 4')
                   .replace('kind = "categorical"', 'kind = "gaussian"'))
    grid = C.load(cfg).grid()
    sizes = sorted((sum(x.bytes for x in items) for e in grid for _, items in memory.needs(e)), reverse=True)
    out = tmp_path / "runs"
    # each population fits alone; the two largest (the n = 4000 points' arms) do not fit together
    monkeypatch.setattr(memory, "available", lambda: sizes[0] + sizes[1] / 2)
    assert main(["sweep", str(cfg), "-o", str(out), "--workers", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--workers 2: the populations running at once need about" in err and "\n" not in err
    assert not out.exists()
    assert main(["sweep", str(cfg), "-o", str(out), "--executor", "serial"]) == 0  # one at a time fits
    # a grid point that cannot fit alone names itself
    base = max(sum(x.bytes for x in items) for _, items in memory.needs(C.load(cfg)))  # n = 3000, which no point runs
    assert base < sizes[0]
    monkeypatch.setattr(memory, "available", lambda: base)
    assert main(["sweep", str(cfg), "-o", str(tmp_path / "other"), "--executor", "serial"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("redqueen: sweep.n = 4000: arm 'replace' needs about") and "shrink" in err and "\n" not in err
    assert not (tmp_path / "other").exists()


def test_a_sweep_builds_its_world_once_not_once_per_grid_point(tmp_path, monkeypatch):
    """The grid points of a sweep differ in seed and n, not in world: twelve points (more than the run cache holds)
    built the world (a corpus, an n-gram fit) once to check them and again for every point run."""
    from redqueen.runtime import build, runner

    calls = []
    real = build.make_world
    monkeypatch.setattr(runner, "make_world", lambda cfg: calls.append(cfg) or real(cfg))
    runner._built_world.cache_clear()
    cfg = tmp_path / "s.toml"
    cfg.write_text(SWEEP.replace("GENS", "1").replace("replicates = 2", "replicates = 1")
                   .replace("seeds = [1, 2]", "seeds = [1, 2, 3, 4, 5, 6]").replace("k = 2000", "k = 1999"))
    assert main(["sweep", str(cfg), "-q", "--executor", "serial", "-o", str(tmp_path / "out")]) == 0
    assert len(Store(tmp_path / "out").runs()) == 12
    assert len(calls) == 1


def test_an_edited_corpus_is_a_new_world_for_the_next_experiment_in_the_process(tmp_path):
    """Worlds are built once per world config in a process; a corpus file edited between two experiments is
    another world (its size and time are part of the key), not the cached one that no longer matches its file."""
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(["the cat sat on the mat"] * 50))

    def exp(seed):
        return C.validate({"name": "t", "seed": seed, "generations": 1, "n": 20,
                           "world": {"kind": "text", "corpus": str(corpus), "heldout_fraction": 0.2},
                           "family": {"kind": "ngram", "order": 2}, "arms": [{"name": "a"}]})

    store = Store(tmp_path / "runs")
    first = run_experiment(exp(1), store=store)
    corpus.write_text("\n".join(["a dog ran in the park today"] * 50))
    second = run_experiment(exp(2), store=store)
    digests = [next(iter(store.run(r.run_id).meta["data"].values()))["sha256"] for r in (first, second)]
    assert digests[0] != digests[1] and "dog" in " ".join(second.records[-1].samples)
