"""Evolution on the population runtime: task world, strategy couplings, checkpoints, resume, errors."""

import time

import numpy as np
import pytest

from redqueen.cli import main
from redqueen.runtime import checkpoint
from redqueen.runtime import config as C
from redqueen.runtime.store import Store
from test_resume import _cli, assert_same_records, kill_at_random_then_finish

ARMS = """
[[arms]]
name = "m2n2"
members = 6
couplings = [{ kind = "m2n2", passes = 40 }]
[[arms]]
name = "ga"
members = 6
couplings = [{ kind = "ga", passes = 40, batch_size = 3 }]
[[arms]]
name = "map_elites"
members = 4
couplings = [{ kind = "map_elites", passes = 40, cells = 5 }]
[[arms]]
name = "cma"
members = 8
couplings = [{ kind = "cma", passes = 40 }]
"""


def _config(tmp_path, generations=5, arms=ARMS, name="evo.toml"):
    p = tmp_path / name
    p.write_text(f'name = "evo"\nseed = 3\ngenerations = {generations}\n[world]\nkind = "digits_task"\n'
                 f'[family]\nkind = "mlp"\n{arms}')
    return p


@pytest.fixture(scope="module")
def exp():
    return C.validate({"seed": 3, "generations": 3, "world": {"kind": "digits_task"}, "family": {"kind": "mlp"},
                       "arms": C.tomllib.loads(ARMS)["arms"]})


def _populations(exp):
    from redqueen.runtime.build import make_population, make_world, plan_arms

    world = make_world(exp.world)
    return [lambda p=p: make_population(exp, world, p, 0) for p in plan_arms(exp, world)]


def _metrics(recs):
    return [(r.member, r.generation, r.metrics, r.parents) for r in recs]


def test_checkpoint_round_trip_continues_every_strategy_bitwise(exp, tmp_path):
    """Stop after two generations, save, load into a fresh population, finish: the records of a straight run."""
    for make in _populations(exp):
        straight = make()
        want = [straight.step() for _ in range(exp.generations + 1)]
        first = make()
        got = [first.step() for _ in range(2)]
        path = checkpoint.save(first, tmp_path / f"{first.arm}.safetensors")
        again = make()
        checkpoint.load(again, path)
        assert again.generation == 1
        got += [again.step() for _ in range(exp.generations - 1)]
        for a, b in zip(want, got):
            assert _metrics(a) == _metrics(b), first.arm
        assert 40 * (exp.generations + 1) <= want[-1][0].metrics["forward_passes"] < 40 * (exp.generations + 1) + 3


def test_records_say_what_each_strategy_did(exp):
    pops = {make().arm: make for make in _populations(exp)}
    m2n2 = pops["m2n2"]()
    recs = [m2n2.step() for _ in range(3)]
    last = recs[-1]
    assert len(last) == 6 and {r.member for r in last} == set(range(6))
    shared = {k: last[0].metrics[k] for k in ("best_train_acc", "best_test_acc", "forward_passes", "accepted")}
    assert all({k: r.metrics[k] for k in shared} == shared for r in last)  # population-level numbers in every record
    assert shared["best_train_acc"] == max(r.metrics["train_acc"] for r in last)
    # F_ST of the members' predicted class distributions on the test split, in every record
    from redqueen.metrics.popgen import fst_loci

    genomes = np.stack([m.model.genome_ for m in m2n2.member_list])
    assert all(r.metrics["fst"] == fst_loci(m2n2.world.test_probs(genomes)) for r in last)
    assert 0 < last[0].metrics["fst"] < 1
    # a replaced slot names the two slots its child was bred from, with SLERP weights summing to 1
    merged = [r for g in recs for r in g if r.parents]
    assert merged and all({p.kind for p in r.parents} == {"merge"} for r in merged)
    assert all(abs(sum(p.weight for p in r.parents) - 1) < 1e-9 for r in merged)
    me = pops["map_elites"]()
    rec = me.step()[0]
    assert 0 <= rec.metrics["new_cells"] <= rec.metrics["accepted"] <= 1
    assert rec.parents[0].kind == "archive"


def test_map_elites_status_reaches_its_emitter():
    """tell returns pyribs' add status of each genome, and the emitter is told exactly those of the children."""
    from redqueen.evolve.map_elites import MapElites

    n = 40
    masks = np.stack([np.arange(n) % 2 == 0, np.arange(n) % 2 == 1])
    w = np.random.default_rng(5).standard_normal((5, n)).astype(np.float32)
    me = MapElites(initial=np.random.default_rng(0).standard_normal((2, 5)).astype(np.float32), measure_masks=masks,
                   cells=5, mutation_sigma=0.5, batch_size=4, rng=1)
    told = []
    real_tell = me.emitter_.tell
    me.emitter_.tell = lambda *a, **k: (told.append(np.asarray(a[3]["status"]).copy()), real_tell(*a, **k))

    def scores(g):  # a toy task: a genome solves the points its projection clears
        return ((g @ w) > 0.5).astype(np.float32)

    first = me.tell(g := me.ask(), scores(g))
    assert told == [] and first[0] == 2  # the initial genomes are not the emitter's children; the first fills a cell
    returned = []
    for _ in range(30):
        g = me.ask()
        returned.append(me.tell(g, scores(g)))
    statuses = np.concatenate(returned)
    np.testing.assert_array_equal(np.concatenate(told), statuses)
    np.testing.assert_array_equal(me.emitter_.status_counts_, np.bincount(statuses, minlength=3))
    assert {0, 1, 2} <= set(statuses.tolist())  # rejected, improved and new-cell children all occur


def test_m2n2_tell_returns_the_replaced_slot():
    from redqueen.evolve.m2n2 import M2N2

    strat = M2N2(initial=np.zeros((2, 3), np.float32), archive_size=2, rng=0)
    assert strat.tell(strat.ask(), np.array([[1, 0, 0, 0], [0, 1, 0, 0]], np.float32)).tolist() == [0, 1]
    # a child that solves nothing is the least fit and is turned away; one that alone solves a point ties with
    # the members (fitness 1 each) and replaces the first of them (ties go to the child)
    assert strat.tell(strat.ask(), np.array([[0, 0, 0, 0]], np.float32)).tolist() == [-1]
    assert strat.tell(strat.ask(), np.array([[0, 0, 1, 0]], np.float32)).tolist() == [0]


def test_evolve_cli_translates_and_equals_run(tmp_path):
    """`redqueen evolve` on an old-format config is the runtime experiment it translates to, record for record."""
    old = tmp_path / "m2n2.toml"
    old.write_text('method = "m2n2"\nseed = 3\nbudget = 240\neval_every = 40\narchive_size = 6\n')
    assert main(["evolve", str(old), "-q", "--no-report", "-o", str(tmp_path / "a")]) == 0
    new = _config(tmp_path, arms='[[arms]]\nname = "m2n2"\nmembers = 6\n'
                                  'couplings = [{ kind = "m2n2", passes = 40, budget = 240 }]\n')
    assert main(["run", str(new), "-q", "--no-report", "-o", str(tmp_path / "b")]) == 0
    a, b = Store(tmp_path / "a").records("latest"), Store(tmp_path / "b").records("latest")
    assert [(r.arm, r.member, r.generation, r.metrics) for r in a] == [(r.arm, r.member, r.generation, r.metrics)
                                                                       for r in b]
    assert max(r.metrics["forward_passes"] for r in a) == 240


@pytest.mark.parametrize("arms, words", [
    ('[[arms]]\nname = "a"\nmembers = 4\ncouplings = [{ kind = "m2n2" }, { kind = "ga" }]\n', "exactly one strategy"),
    ('[[arms]]\nname = "a"\nmembers = 4\n', "exactly one strategy"),
    ('[[arms]]\nname = "a"\nmembers = 4\ncouplings = [{ kind = "cma", passes = 3 }]\n', "exceeds passes"),
    ('[[arms]]\nname = "a"\nmembers = 4\ncouplings = [{ kind = "m2n2", passes = 10, batch_size = 11 }]\n',
     "batch_size = 11 exceeds passes"),
    ('[[arms]]\nname = "a"\nmembers = 4\ncouplings = [{ kind = "m2n2", passes = 10, budget = 500 }]\n',
     "set generations = ceil(budget / passes) - 1"),
    ('[[arms]]\nname = "a"\nmembers = 4\nfamily = { n_initial = 5 }\ncouplings = [{ kind = "m2n2" }]\n',
     "n_initial = 5 exceeds members"),
    ('[[arms]]\nname = "a"\nmembers = 4\nfamily = { init = "pretrained" }\ncouplings = [{ kind = "cma" }]\n',
     "init = 'scratch'"),
    ('[[arms]]\nname = "a"\nmembers = 4\nregime = "accumulate"\ncouplings = [{ kind = "m2n2" }]\n',
     "no training sets"),
    ('[[arms]]\nname = "a"\nmembers = 4\ncouplings = [{ kind = "m2n2", sigma = 1 }]\n', "unknown key"),
])
def test_bad_task_configs_fail_in_one_line(tmp_path, capsys, arms, words):
    cfg = _config(tmp_path, arms=arms)
    assert main(["run", str(cfg), "-q", "-o", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err, err
    assert not (tmp_path / "runs" / "runs.db").exists() or not Store(tmp_path / "runs").runs()


def test_strategy_on_a_generative_world_and_mlp_on_zipf_fail_in_one_line(tmp_path, capsys):
    p = tmp_path / "zipf.toml"
    p.write_text('[world]\nkind = "zipf"\n[family]\nkind = "categorical"\n[[arms]]\nname = "a"\nmembers = 3\n'
                 'couplings = [{ kind = "m2n2" }]\n')
    assert main(["run", str(p), "-q", "-o", str(tmp_path / "runs")]) == 2
    assert "task world" in capsys.readouterr().err
    p.write_text('[world]\nkind = "zipf"\n[family]\nkind = "mlp"\n[[arms]]\nname = "a"\n')
    assert main(["run", str(p), "-q", "-o", str(tmp_path / "runs")]) == 2
    assert "cannot model" in capsys.readouterr().err


def test_old_evolve_configs_fail_in_one_line(tmp_path, capsys):
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text('method = "m2n2"\nbudget = 200\ninput_scale = 2.0\n')
    b.write_text('method = "ga"\nbudget = 200\n')
    assert main(["evolve", str(a), str(b), "-q", "-o", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert "input_scale" in err and "\n" not in err
    a.write_text('method = "m2n2"\nbudget = 200\nbatch_size = 300\neval_every = 100\n')
    assert main(["evolve", str(a), "-q", "-o", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert "batch_size" in err and "\n" not in err


def test_keys_lists_the_task_world_family_and_strategies():
    ref = C.keys_reference()
    for title in ('kind = "digits_task"', 'kind = "mlp"', 'kind = "m2n2"', 'kind = "ga"', 'kind = "map_elites"',
                  'kind = "cma"'):
        assert title in ref


def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    """An evolve run (all four strategies) killed at seeded random moments resumes to the uninterrupted records."""
    cfg = _config(tmp_path, generations=14)
    ref_dir, killed_dir = tmp_path / "ref", tmp_path / "killed"
    t0 = time.monotonic()
    ref = _cli(["run", str(cfg)], ref_dir)
    assert ref.returncode == 0, ref.stderr.read().decode()
    duration = time.monotonic() - t0
    kill_at_random_then_finish(cfg, killed_dir, duration, np.random.default_rng(9), attempts=4, first=(0.4, 0.8),
                               later=(0.2, 1.0))
    assert_same_records(ref_dir, killed_dir)


def test_a_task_runs_report_and_summary_count_forward_passes(tmp_path, monkeypatch, capsys):
    """A run on the task world is drawn and tabled against forward passes (as old `evolve` runs were),
    not against the generation index; its population section (cures, F_ST against island theory) is left out."""
    from redqueen import report

    seen = []
    png = report._png
    monkeypatch.setattr(report, "_png", lambda fig: (seen.append(fig), png(fig))[1])
    old = tmp_path / "m2n2.toml"
    old.write_text('method = "m2n2"\nseed = 3\nbudget = 240\neval_every = 40\narchive_size = 6\n')
    assert main(["evolve", str(old), "-o", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "passes 40" in out and "passes 240" in out and "gen " not in out
    store = Store(tmp_path / "a")
    info = store.run("latest")
    assert info.evolves and [info.progress(r) for r in store.records("latest") if r.member == 0] == [40, 80, 120, 160,
                                                                                                    200, 240]
    text = report.write_report(store, ["latest"], tmp_path / "r.html").read_text()
    acc = next(f.axes[0] for f in seen if f.axes[0].get_title() == "test_acc")
    assert acc.get_xlabel() == "forward passes" and list(acc.get_lines()[0].get_xdata()) == [40, 80, 120, 160, 200, 240]
    assert "<h3>Populations</h3>" not in text and "F_ST against generation" not in text and "passes 40" in text
    fst = next(f.axes[0] for f in seen if f.axes[0].get_title() == "fst")  # the members' F_ST, a metric like any
    assert fst.get_xlabel() == "forward passes"
