"""`redqueen evolve`: configs in, one runtime run per seed with one arm per config, curves in the store and the report."""

from redqueen.cli import main
from redqueen.runtime.store import Store


def _configs(folder, **texts):
    """Write one evolve TOML per keyword (its file name) and return their paths, in order."""
    paths = []
    for name, text in texts.items():
        (folder / f"{name}.toml").write_text(text)
        paths.append(folder / f"{name}.toml")
    return paths


def test_evolve_two_methods_two_seeds(tmp_path, capsys):
    a, b = _configs(tmp_path, m2n2='method = "m2n2"\nbudget = 300\neval_every = 100\n',
                    cma='[evolve]\nmethod = "cma"\nbudget = 300\neval_every = 100\narchive_size = 10\n')
    out = tmp_path / "runs"
    assert main(["evolve", str(a), str(b), "--seeds", "0,1", "-o", str(out)]) == 0
    store = Store(out)
    runs = store.runs()
    assert len(runs) == 2 and all(r.status == "done" for r in runs)  # one run per seed
    by_seed = {r.seed: store.records(r.id) for r in runs}
    assert set(by_seed) == {0, 1}
    recs = by_seed[0]
    assert {r.arm for r in recs} == {"m2n2", "cma"}
    # the stored curve is the library's curve point for point, and its accuracies are counts over the splits
    from redqueen.evolve.runner import EvolveConfig, run_evolve

    direct = [(r.forward_passes, r.best_train_acc, r.test_acc_of_best_on_train)
              for r in run_evolve(EvolveConfig(method="m2n2", budget=300, eval_every=100, seed=0))]
    stored = [(int(r.metrics["forward_passes"]), r.metrics["best_train_acc"], r.metrics["best_test_acc"]) for r in recs
              if r.arm == "m2n2" and r.member == 0]
    assert stored == direct and len(stored) == 3
    assert {r.member for r in recs if r.arm == "m2n2"} == set(range(20))  # archive_size members
    for r in recs:  # 1,437 training and 360 test digits
        for k in ("train_acc", "best_train_acc"):
            assert abs(r.metrics[k] * 1437 - round(r.metrics[k] * 1437)) < 1e-3  # float32
        for k in ("test_acc", "best_test_acc"):
            assert abs(r.metrics[k] * 360 - round(r.metrics[k] * 360)) < 1e-3
    assert max(r.metrics["forward_passes"] for r in recs) == 300
    info = store.run(runs[-1].id)
    assert (out / f"{info.id}.html").exists()
    # same seed, same curve
    assert main(["evolve", str(a), "--seeds", "1", "-o", str(out), "--no-report"]) == 0
    again = [r.metrics for r in store.records("latest")]
    first = [r.metrics for r in by_seed[1] if r.arm == "m2n2"]
    assert again == first


def test_evolve_on_a_process_pool_stores_what_the_serial_run_stores(tmp_path, capsys, monkeypatch):
    """The arms run on the runtime's executors: two methods on a pool of two give the serial run's records."""
    from redqueen.evolve.runner import EvolveConfig
    from redqueen.runtime import config as C

    a, b = _configs(tmp_path, m2n2='method = "m2n2"\nbudget = 200\neval_every = 100\n',
                    ga='method = "ga"\nbudget = 200\neval_every = 100\n')
    out = tmp_path / "runs"
    assert main(["evolve", str(a), str(b), "-o", str(out), "--no-report", "-q"]) == 0
    assert main(["evolve", str(a), str(b), "-o", str(out), "--no-report", "-q", "--workers", "2"]) == 0
    store = Store(out)
    serial, pooled = (sorted((r.arm, r.member, r.generation, tuple(sorted(r.metrics.items())))
                             for r in store.records(run.id)) for run in store.runs())
    assert serial == pooled and len(serial) > 0
    assert main(["evolve", str(a), "-o", str(out), "--executor", "serial", "--workers", "2"]) == 2
    assert "--workers 2 needs --executor pool or ray" in capsys.readouterr().err
    # each config fits alone, two side by side do not: refused before any work, in one line
    from redqueen.runtime import memory

    one = sum(x.bytes for x in memory.evolve_needs(C.validate_as(EvolveConfig, {"method": "m2n2", "budget": 200,
                                                                                "eval_every": 100}), 19210))
    one += memory.PROCESS.bytes  # each population's estimate includes the interpreter
    monkeypatch.setattr(memory, "available", lambda: 1.5 * one)
    assert main(["evolve", str(a), str(b), "-o", str(out), "--workers", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--workers 2: the populations running at once need about" in err and "\n" not in err


def test_evolve_bad_input(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('method = "annealing"\n')
    assert main(["evolve", str(bad), "-o", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert "method" in err and "\n" not in err
    ok = tmp_path / "ok.toml"
    ok.write_text('method = "m2n2"\nbudget = 100\n')
    assert main(["evolve", str(ok), "--seeds", "1,x", "-o", str(tmp_path / "runs")]) == 2
    assert main(["evolve", str(ok), str(ok), "-o", str(tmp_path / "runs")]) == 2


def test_a_config_given_to_the_other_command_names_the_right_one(tmp_path, capsys):
    """An evolve config given to run / sweep / theory, and an experiment config given to evolve: one line naming
    the command that reads it (before: "world: required key is missing (and 8 more problem(s))")."""
    evo = tmp_path / "evo.toml"
    evo.write_text('method = "cma"\nbudget = 100\n')
    exp = tmp_path / "exp.toml"
    exp.write_text('[world]\nkind = "zipf"\nk = 20\n[family]\nkind = "categorical"\n[[arms]]\nname = "replace"\n')
    for command in ("run", "sweep", "theory"):
        assert main([command, str(evo)]) == 2
        err = capsys.readouterr().err.strip()
        assert "`redqueen evolve FILE`" in err and "\n" not in err, (command, err)
    assert main(["evolve", str(exp), "-o", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert f"`redqueen run {exp}`" in err and "\n" not in err
