"""Kill runs with SIGKILL at random moments, resume them, and demand the records of an uninterrupted run.

Four families (categorical, Gaussian, Gaussian mixture, n-gram), five kills
each at seeded random moments: 20 kills. Bitwise equality of every metric.
"""

import os
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from redqueen.runtime.store import Store

SRC = str(Path(__file__).resolve().parent.parent / "src")

CONFIGS = {
    "categorical": """
        [world]
        kind = "zipf"
        k = 20000
        [family]
        kind = "categorical"
        [[arms]]
        name = "replace"
        [[arms]]
        name = "accumulate"
        regime = "accumulate"
        [[arms]]
        name = "noisy fresh"
        regime = "fresh"
        curation = [{ kind = "noise", rate = 0.01 }]
    """,
    "gaussian": """
        [world]
        kind = "gaussian"
        d = 3
        [family]
        kind = "gaussian"
        [[arms]]
        name = "replace"
        [[arms]]
        name = "subsample"
        regime = "subsample"
    """,
    "gmm": """
        [world]
        kind = "mixture"
        components = 4
        [family]
        kind = "gmm"
        components = 4
        [[arms]]
        name = "filter"
        curation = [{ kind = "filter", keep = 0.5 }]
        [[arms]]
        name = "bank"
        regime = "fresh"
        real_source = "bank"
    """,
    "ngram": """
        [world]
        kind = "text"
        corpus = "CORPUS"
        [family]
        kind = "ngram"
        smoothing = "kneser_ney"
        [[arms]]
        name = "replace"
        [[arms]]
        name = "accumulate"
        regime = "accumulate"
    """,
}
SIZES = {"categorical": (30, 100_000), "gaussian": (60, 2000), "gmm": (10, 1000), "ngram": (12, 1500)}


def _cli(args, folder, *, wait=True):
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "redqueen", *args, "-q", "--no-report", "-o", str(folder)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    if wait:
        proc.wait(timeout=600)
    return proc


def _stored_runs(folder) -> bool:
    try:
        return bool((folder / "runs.db").exists() and Store(folder).runs())
    except Exception:  # the store is being created by the child this very moment
        return False


def kill_at_random_then_finish(cfg, killed_dir, duration, rng, *, attempts=5, first=(0.2, 0.7), later=(0.1, 1.0),
                               after_first_records=False) -> int:
    """Run ``cfg`` into ``killed_dir``, SIGKILL it at seeded random moments (fractions of ``duration``, the
    uninterrupted run's time: ``first`` for the first kill, ``later`` after), resume it each time, and finish
    it; returns how many kills landed while it ran. With ``after_first_records`` the first delay counts from
    the run's first stored records (a run whose start-up is most of its time)."""
    kills = 0
    for attempt in range(attempts):
        proc = _cli(["resume", "latest"] if _stored_runs(killed_dir) else ["run", str(cfg)], killed_dir, wait=False)
        if attempt == 0 and after_first_records:
            while proc.poll() is None and not (_stored_runs(killed_dir) and Store(killed_dir).run("latest").n_records):
                time.sleep(0.05)
        low, high = first if attempt == 0 else later
        time.sleep(float(rng.uniform(low, high)) * duration)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        said = proc.stderr.read().decode()
        assert "checkpoint refused" not in said, said  # a checkpoint the run wrote itself is always usable
        if _stored_runs(killed_dir) and Store(killed_dir).run("latest").status == "done":
            break
    if not _stored_runs(killed_dir):
        assert _cli(["run", str(cfg)], killed_dir).returncode == 0
    elif Store(killed_dir).run("latest").status != "done":
        final = _cli(["resume", "latest"], killed_dir)
        said = final.stderr.read().decode()
        assert final.returncode == 0 and "checkpoint refused" not in said, said
    assert kills >= 1, "no kill landed mid-run; make the run longer"
    return kills


def assert_same_records(ref_dir, killed_dir):
    """Every record of the killed-and-resumed run equals the uninterrupted run's, bit for bit: metrics (NaN
    included), samples, per-item distributions, status and the genealogy, keyed by arm, replicate, member
    and generation; the run is done and its checkpoints are gone."""
    def records(folder):
        return {(r.arm, r.replicate, r.member, r.generation): r for r in Store(folder).records("latest")}

    want, got = records(ref_dir), records(killed_dir)
    assert got.keys() == want.keys()
    for key, w in want.items():
        g = got[key]
        assert g.parents == w.parents, key
        assert (g.samples, g.distributions, g.status) == (w.samples, w.distributions, w.status), key
        assert w.metrics.keys() == g.metrics.keys(), key
        for m in w.metrics:
            assert np.array_equal(w.metrics[m], g.metrics[m], equal_nan=True), (key, m)
    info = Store(killed_dir).run("latest")
    assert info.status == "done" and not (killed_dir / "checkpoints" / info.id).exists()
    return want


def _write_config(tmp_path, family):
    gens, n = SIZES[family]
    body = "\n".join(line.strip() for line in CONFIGS[family].splitlines())
    if family == "ngram":
        corpus = tmp_path / "corpus.txt"
        rng = np.random.default_rng(0)
        words = [f"w{i}" for i in range(300)]
        corpus.write_text("\n".join(" ".join(rng.choice(words, size=rng.integers(3, 12))) for _ in range(2000)))
        body = body.replace("CORPUS", str(corpus))
    p = tmp_path / f"{family}.toml"
    p.write_text(f'name = "{family}"\nseed = 42\ngenerations = {gens}\nn = {n}\nreplicates = 2\n{body}\n')
    return p


@pytest.mark.parametrize("family", list(CONFIGS))
def test_sigkill_then_resume_equals_uninterrupted(tmp_path, family):
    cfg = _write_config(tmp_path, family)
    ref_dir, killed_dir = tmp_path / "ref", tmp_path / "killed"
    t0 = time.monotonic()
    ref = _cli(["run", str(cfg)], ref_dir)
    assert ref.returncode == 0, ref.stderr.read().decode()
    duration = time.monotonic() - t0  # kill moments scale with this machine's speed right now
    rng = np.random.default_rng(zlib.crc32(family.encode()))
    kill_at_random_then_finish(cfg, killed_dir, duration, rng)
    assert_same_records(ref_dir, killed_dir)


# Populations: every coupling, in two arms (gene flow and island resets; the three that breed in weight
# space), each arm killed at a seeded random moment while it runs (the serial runner steps the arms in
# order), so every coupling's state (migration matrix, reference scorers, pyribs archives, breeding
# draws) goes through a kill and a checkpoint.
POPULATION = """
name = "populations"
seed = 5
generations = GENS
n = 20000
reference_size = 100
[world]
kind = "zipf"
k = 20000
[family]
kind = "categorical"
[[arms]]
name = "flow and resets"
members = 4
couplings = [{ kind = "migration", rate = 0.1, topology = "ring" }, { kind = "migration", rate = 0.05 },
             { kind = "island_reset", every = 3, reference = 200 }]
[[arms]]
name = "breeding"
members = 4
couplings = [{ kind = "merge", children = 1, mutation = "gaussian", sigma = 0.05 },
             { kind = "niches", children = 1, reference = 200 }, { kind = "quality_diversity", children = 1, reference = 200 }]
"""
POPULATION_GENERATIONS = 400  # each arm lasts several flushes of the serial runner (FLUSH_SECONDS); at 150 an idle
# AVX-512 machine ran the first arm in 0.6 s, one flush, and the kill could only land after its end


def test_population_sigkill_during_each_coupling_then_resume_equals_uninterrupted(tmp_path):
    from redqueen.runtime import config as C
    from redqueen.runtime.runner import run_experiment

    cfg = tmp_path / "populations.toml"
    cfg.write_text(POPULATION.replace("GENS", str(POPULATION_GENERATIONS)))
    ref_dir, killed_dir = tmp_path / "ref", tmp_path / "killed"
    with Store(ref_dir) as ref:  # the uninterrupted run, in this process (records do not depend on where)
        run_experiment(C.load(cfg), store=ref)
    arms = [a for a, _ in Store(ref_dir).run("latest").arms]
    rng = np.random.default_rng(20261202)

    def progress(arm):
        if not ((killed_dir / "runs.db").exists() and Store(killed_dir).runs()):
            return -1
        return Store(killed_dir).progress("latest").get((arm, 0), (-1, ""))[0]

    killed = []
    for arm in arms:
        target = int(rng.integers(2, POPULATION_GENERATIONS // 2))  # the stored generation after which it dies
        delay = float(rng.uniform(0.0, 0.5))  # then anywhere inside the next flush interval
        started = progress(arms[0]) >= 0
        proc = _cli(["resume", "latest"] if started else ["run", str(cfg)], killed_dir, wait=False)
        while proc.poll() is None:
            seen = progress(arm)
            if seen >= target:
                time.sleep(delay)
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    killed.append((arm, seen))
                break
            time.sleep(0.02)
        proc.wait()
    if Store(killed_dir).run("latest").status != "done":
        final = _cli(["resume", "latest"], killed_dir)
        assert final.returncode == 0, final.stderr.read().decode()
    # each kill landed inside its arm's run, after a checkpoint of it
    assert [a for a, g in killed if 0 < g < POPULATION_GENERATIONS] == arms, killed
    want = assert_same_records(ref_dir, killed_dir)  # the genealogy, weights included, bit for bit
    kinds = {p.kind for r in want.values() for p in r.parents}
    assert kinds == {"migrant", "copy", "merge", "archive"}, kinds  # every coupling acted
