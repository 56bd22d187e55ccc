"""More hostile input found by a hunt through the CLI: each must be one line on stderr and exit code 2 before
anything runs, or -- where the input is legal -- a run whose report still writes."""

import pytest

from redqueen.cli import main

H = 'name = "b"\nseed = 1\ngenerations = 1\nn = 30\nreference_size = 10\n'
ZIPF = '[world]\nkind = "zipf"\nk = 20\n[family]\nkind = "categorical"\n'
TEXT = '[world]\nkind = "text"\nvocab_size = 200\nmax_len = 16\n'


@pytest.mark.parametrize("body, needle", [
    (H + TEXT + '[family]\nkind = "transformer"\nd_model = 8\nn_layers = 1\nn_heads = 1\ncontext = 16\nprompt_len = 2\n'
     'max_new_tokens = 100\n[[arms]]\nname = "a"\n', "more than the context (16) holds"),
    (H + '[world]\nkind = "regression"\nd = 3\nsigma = 1e308\n[family]\nkind = "regression"\n[[arms]]\nname = "a"\n',
     "less than or equal to 1e+100 (got 1e+308)"),
    (H + '[world]\nkind = "text"\ncorpus = ""\n[family]\nkind = "ngram"\n[[arms]]\nname = "a"\n', "world.corpus"),
    (H + ZIPF + '[[arms]]\nname = "a"\nreal_fraction = 0.5\n', "real_fraction apply to regime = 'fresh' only"),
    (H + ZIPF + '[[arms]]\nname = "a"\nregime = "fresh"\nbudget = 10\n', "budget apply to regime = 'subsample' only"),
    (H + ZIPF + '[[arms]]\nname = "a"\nmembers = 3\n[[arms.couplings]]\nkind = "merge"\nsigma = 0.5\n',
     "sigma = 0.5 applies with mutation = 'gaussian' only"),
    (H + ZIPF + '[[arms]]\nname = "a"\nmembers = 3\n[[arms.couplings]]\nkind = "merge"\noperator = "lerp"\n'
     'density = 0.5\n', "density = 0.5 applies with operator = 'ties' only"),
    (H + ZIPF + '[[arms]]\nname = "a"\nmembers = 3\n[[arms.couplings]]\nkind = "niches"\nchildren = 5\n',
     "niches children = 5 replace more members than there are (3)"),
    (H + '[world]\nk = 20\n[family]\nkind = "categorical"\n[[arms]]\nname = "a"\n', "world: set kind"),
])
def test_a_config_that_cannot_mean_what_it_says_is_one_line(tmp_path, capsys, body, needle):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(body)
    assert main(["run", str(cfg), "-q", "--no-report", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err and needle in err, err


def test_a_damaged_hugging_face_folder_is_one_line(tmp_path, capsys):
    for name, text in (("broken", "{not json"), ("bare", '{"model_type": "gpt2"}')):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "config.json").write_text(text)
        cfg = tmp_path / f"{name}.toml"
        cfg.write_text(H + TEXT + f'[family]\nkind = "hf"\npath = "{folder}"\n[[arms]]\nname = "a"\n')
        assert main(["run", str(cfg), "-q", "--no-report", "-o", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and ("not readable JSON" in err if name == "broken" else "no weights" in err), err


@pytest.mark.parametrize("world, family", [
    ('[world]\nkind = "regression"\nd = 29\n', '[family]\nkind = "regression"\n'),  # N = d + 1: no finite theory
    ('[world]\nkind = "gaussian"\nd = 2\n', '[family]\nkind = "gaussian"\nmin_var = 1e308\n'),  # values no axis holds
])
def test_legal_extremes_still_write_their_report(tmp_path, capsys, world, family):
    cfg = tmp_path / "edge.toml"
    cfg.write_text(H + world + family + '[[arms]]\nname = "a"\n')
    assert main(["run", str(cfg), "-q", "-o", str(tmp_path / "out")]) == 0
    assert list((tmp_path / "out").glob("*.html"))
    assert main(["report", "-o", str(tmp_path / "out"), "-p", str(tmp_path / "r.html")]) == 0


def test_cli_numbers_and_lists_that_cannot_be_used_are_one_line(tmp_path, capsys):
    cfg = tmp_path / "ok.toml"
    cfg.write_text(H + ZIPF + '[[arms]]\nname = "a"\n')
    out = str(tmp_path / "out")
    assert main(["run", str(cfg), "-q", "--no-report", "-o", out]) == 0
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(H + ZIPF + '[[arms]]\nname = "a"\n[sweep]\nseeds = [1, 2]\n')
    capsys.readouterr()
    for argv, needle in ((["show", "-o", out, "--every", "99999999999999999999"], "--every"),
                         (["show", "-o", out, "--replicate", "5"], "has no replicate 5"),
                         (["sweep", str(sweep), "-o", out, "--address", "1.2.3.4:6379"], "add --executor ray")):
        assert main(argv) == 2, argv
        captured = capsys.readouterr()
        err = captured.err.strip()
        assert "\n" not in err and "Traceback" not in err and needle in err, (argv, err)
        assert captured.out == "", argv  # refused before the run's header is printed


def test_the_memory_estimate_counts_detector_fits_the_paraphraser_radioactivity_and_the_arena():
    """Sizes inside their documented ranges that no machine here holds are refused before the run, naming the key:
    a detector or resampling step fitted on ten million examples a side, and the arena's detector and samples."""
    from redqueen.runtime import memory
    from redqueen.runtime.config import ConfigError, validate

    base = {"n": 200, "world": {"kind": "text", "vocab_size": 2000, "max_len": 32},
            "family": {"kind": "ngram", "smoothing": "additive"}}
    for kind in ("detector", "resample"):
        exp = validate({**base, "arms": [{"name": "a", "curation": [{"kind": kind, "examples": 1000}]}]})
        with pytest.raises(ConfigError, match=rf"the {kind} step's detector fit .* shrink arms\.a\.curation\[0\]\.examples"):
            memory.check(exp.model_copy(update={"arms": [exp.arms[0].model_copy(update={"curation": [
                exp.arms[0].curation[0].model_copy(update={"examples": 10_000_000})]})]}), limit=20 * 2**30)
        memory.check(exp, limit=20 * 2**30)  # a thousand examples fit
    exp = validate({**base, "arms": [{"name": "a", "radioactivity": 1000, "family": {"watermark": {}},
                                      "curation": [{"kind": "paraphrase", "examples": 1000}]}]})
    what = [n.what for n in memory.needs(exp)[0][1]]
    assert any("paraphraser fitted on 1,000" in w for w in what) and any("radioactivity" in w for w in what)
    arena = {"kind": "arena", "detector": {"kind": "hashed_ngram"}, "samples": 1000}
    exp = validate({**base, "generations": 2, "arms": [{"name": "a", "members": 4, "regime": "fresh",
                                                        "couplings": [arena]}]})
    exp = exp.model_copy(update={"arms": [exp.arms[0].model_copy(update={"couplings": [
        exp.arms[0].couplings[0].model_copy(update={"samples": 1_000_000})]})]})
    what = {n.what: n.keys for n in memory.needs(exp)[0][1]}
    assert what["the arena's detector fit on 1,000,000 real and 1,000,000 synthetic items"] == "arms.a.couplings[0].samples"
    assert what["1,000,000 samples of each of 3 rounds' generators and champion, archived"] == \
        "arms.a.couplings[0].samples, generations"
    with pytest.raises(ConfigError, match="arena's detector fit"):
        memory.check(exp, limit=2 * 2**30)


#: peak RSS a member of a categorical population adds (zipf, k = 100,000, n = 1,000, 3 generations, replace; the
#: slope of /usr/bin/time's maximum resident size over members = 64, 128, 256): its model, reference counts and
#: types present, gene bank, pending, training and emitted counts, and its row of the population diagnostics' (P, K)
#: matrix. 9,186 KiB (724,108, 1,312,488, 2,488,284) while every member's diversity profile held its own copy of the
#: world's terms and two scratch buffers; 5,094 KiB since they are shared (2026-12-07)
CATEGORICAL_MEMBER_KIB = 5_094
MEASURED_PEAK_KIB = {64: 492_096, 128: 787_364, 256: 1_439_392}


def test_the_memory_estimate_of_a_large_categorical_population_is_at_least_what_it_uses():
    """A reviewer's zipf population (k = 100,000, members = 4096, n = 1000) was estimated at 12 GiB and was
    OOM-killed at 23 GB: the estimate counted the model's probabilities only, not each member's diagnostics, counts
    and pooled matrix. Now it holds the measured peaks of the scaled runs (within 2x) and refuses the reviewer's."""
    from redqueen.runtime import memory
    from redqueen.runtime.config import ConfigError, validate

    base = {"n": 1000, "generations": 3, "world": {"kind": "zipf", "k": 100_000}, "family": {"kind": "categorical"}}
    exp = validate({**base, "arms": [{"name": "a", "members": 2}]})

    def estimate(members):
        sized = exp.model_copy(update={"arms": [exp.arms[0].model_copy(update={"members": members})]})
        return sized, sum(x.bytes for x in memory.needs(sized)[0][1])

    for members, peak in MEASURED_PEAK_KIB.items():
        assert 1024 * peak <= estimate(members)[1] <= 2 * 1024 * peak, members
    reviewer, total = estimate(4096)
    assert 4096 * CATEGORICAL_MEMBER_KIB * 1024 <= total <= 2 * 4096 * CATEGORICAL_MEMBER_KIB * 1024
    with pytest.raises(ConfigError, match="needs about 2.* GiB of memory, more than the 20 GiB available; most of it is "
                                          "the training set, kept real data, emitted and pending counts .* shrink "
                                          "world.k, arms.a.members"):
        memory.check(reviewer, limit=20 * 2**30)


def test_an_arena_web_that_cannot_fit_is_refused_before_the_store(tmp_path, capsys):
    """The arena's web model trains on `web` real items beside what passed (up to 10^8): it was not sized, so a digits
    arena with web = 10^8 (a 150 GiB training set) started its run; now it is one line naming the key, exit 2,
    before any store is created."""
    cfg = tmp_path / "web.toml"
    cfg.write_text('name = "w"\nseed = 1\ngenerations = 2\nn = 100\nreference_size = 50\n[world]\nkind = "digits"\n'
                   '[family]\nkind = "gmm"\ncomponents = 2\ncovariance_type = "diag"\n[[arms]]\nname = "a"\n'
                   'members = 3\n[[arms.couplings]]\nkind = "arena"\ndetector = { kind = "classifier" }\n'
                   'samples = 20\nweb = 100000000\n')
    out = tmp_path / "out"
    assert main(["run", str(cfg), "-q", "--no-report", "-o", str(out)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert "the arena web model's training set of up to 100,000,060 items" in err and "shrink arms.a.couplings[0].web" in err
    assert captured.out == "" and not out.exists()


def test_a_ctrl_c_that_pydantic_turns_into_a_schema_error_is_an_interruption():
    """A Ctrl-C landing while pydantic-core builds a validator comes back as a SchemaError that only names it (seen
    once in CI at 0.28 s into start-up); the entry point reads it as the interruption it is."""
    from redqueen._entry import _interrupted

    class SchemaError(Exception):
        pass

    assert _interrupted(SchemaError('Error building "default" validator:\n  SchemaError: Error building "literal" '
                                    'validator:\n  KeyboardInterrupt:'))
    assert not _interrupted(SchemaError("Error building 'literal' validator: bad type"))


def test_an_audit_of_tables_with_other_columns_is_one_line(tmp_path, capsys):
    """Tables are compared column by column: real (a, b) against synthetic (c, d) was compared by position, silently."""
    rows = "\n".join(f"{i % 7},{(3 * i) % 5}" for i in range(40))
    (tmp_path / "real.csv").write_text("a,b\n" + rows + "\n")
    (tmp_path / "synth.csv").write_text("c,d\n" + rows + "\n")
    (tmp_path / "same.csv").write_text("a,b\n" + rows + "\n")
    assert main(["audit", str(tmp_path / "real.csv"), str(tmp_path / "synth.csv"), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "synth.csv has columns c, d and real.csv has a, b" in err, err
    assert main(["audit", str(tmp_path / "real.csv"), str(tmp_path / "same.csv"), "-q", "--no-vendi"]) == 0


def test_a_store_edited_to_a_negative_generation_is_one_line(tmp_path, capsys):
    import sqlite3

    cfg = tmp_path / "ok.toml"
    cfg.write_text(H + ZIPF + '[[arms]]\nname = "a"\n')
    out = tmp_path / "out"
    assert main(["run", str(cfg), "-q", "--no-report", "-o", str(out)]) == 0
    with sqlite3.connect(out / "runs.db") as conn:
        conn.execute("UPDATE generations SET generation = -1 WHERE generation = 1")
    capsys.readouterr()
    assert main(["report", "-o", str(out), "-p", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "generation -1 of arm 'a', below 0; the store is damaged" in err, err


MIX = '[world]\nkind = "mixture"\ncomponents = 3\nd = 2\n[family]\nkind = "kde"\n'
KJV = '[world]\nkind = "text"\ncorpus = "kjv"\nlevel = "word"\nvocab_size = 200\nmax_len = 16\n[family]\nkind = "ngram"\n'
DIGITS = '[world]\nkind = "digits"\n[family]\nkind = "gmm"\ncomponents = 2\ncovariance_type = "diag"\n'
POP = '[[arms]]\nname = "a"\nmembers = 3\n'


def _arena(world, detector):
    return (H + world + '[[arms]]\nname = "a"\nmembers = 3\nregime = "fresh"\nreal_fraction = 0.5\n[[arms.couplings]]\n'
            f'kind = "arena"\ndetector = {detector}\nsamples = 20\nchildren = 1\nmutation = "none"\n')


@pytest.mark.parametrize("command, body, needle", [
    ("run", H + MIX + POP + 'couplings = [{ kind = "merge", children = 1 }]\n', "cannot be merged"),
    ("run", H + MIX + POP + 'couplings = [{ kind = "niches", children = 1 }]\n', "cannot be merged"),
    ("run", H + MIX + POP + 'couplings = [{ kind = "quality_diversity" }]\n', "cannot be merged"),
    ("run", H + '[world]\nkind = "regression"\nd = 3\n[family]\nkind = "regression"\n' + POP
     + 'couplings = [{ kind = "merge", children = 1 }]\n', "use a coupling that moves data"),
    ("run", _arena(KJV, '{ kind = "hashed_ngram", n_featurs = 64 }'), "no key 'n_featurs'; its keys are analyzer"),
    ("run", _arena(KJV, '{ kind = "hashed_ngram", n_features = 0 }'), "n_features must be >= 1"),
    ("run", _arena(KJV, '{ kind = "watermark" }'), "needs the key 'watermark'"),
    ("run", _arena(DIGITS, '{ kind = "classifier", estimator = "os:system" }'), "plug-in module 'os' is not allowed"),
    ("run --allow-plugin os", _arena(DIGITS, '{ kind = "classifier", estimator = "os:system" }'), "os:system"),
    ("run", _arena(DIGITS, '{ kind = "classifier", C = 1 }'), "no key 'C'; its keys are estimator, params"),
    ("sweep", H + MIX + POP + 'couplings = [{ kind = "merge", children = 1 }]\n[sweep]\nseeds = [1, 2]\n',
     "cannot be merged"),
    ("theory", H + "replicates = 2\n" + MIX + POP + 'couplings = [{ kind = "merge", children = 1 }]\n',
     "cannot be merged"),
    ("theory", H + ZIPF + '[[arms]]\nname = "a"\n', "set replicates >= 2"),
    ("run --executor foo", H + ZIPF + '[[arms]]\nname = "a"\n', "unknown executor 'foo'"),
    ("evolve --executor foo", 'method = "ga"\n', "unknown executor 'foo'"),
    ("evolve", 'method = "ga"\nbatch_size = 0\n', "batch_size"),
    # an evolve config's errors name its own keys (passes and members are the runtime's) and their fix
    ("evolve", 'method = "ga"\nbatch_size = 5\neval_every = 2\n', "raise eval_every or lower batch_size"),
    ("evolve", 'method = "cma"\narchive_size = 50\neval_every = 10\n', "raise eval_every or lower archive_size"),
    ("evolve", 'method = "ga"\nbudget = 6\nbatch_size = 4\n', "raise budget or lower batch_size"),
    ("evolve", 'method = "ga"\nn_initial = 30\n', "lower n_initial or raise archive_size"),
])
def test_a_refusal_leaves_no_results_folder_or_store_behind(tmp_path, capsys, command, body, needle):
    """Every check of a config or a flag runs before the store is opened: a refused command leaves the folder it
    was given as it was (an empty runs.db was left in a new folder when the family, a coupling or a detector
    was refused after the store was made)."""
    cfg = tmp_path / "bad.toml"
    cfg.write_text(body)
    command, *flags = command.split()
    new, old = tmp_path / "new" / "out", tmp_path / "old"
    old.mkdir()
    for out in (new, old):
        assert main([command, str(cfg), *flags, *(["-q"] if command != "sweep" else []), "-o", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "Traceback" not in err and needle in err, err
    assert not (tmp_path / "new").exists() and list(old.iterdir()) == []


def test_a_run_that_cannot_resume_is_named_with_its_kind(tmp_path, capsys):
    from redqueen.runtime.store import Store

    store = Store(tmp_path / "out")
    rid = store.create_run(name="e", kind="evolve", config={}, seed=0, arms=[("a", {})])
    store.finish(rid, "interrupted")
    store.close()
    assert main(["resume", rid, "-q", "-o", str(tmp_path / "out")]) == 2
    assert "is an evolve run; only collapse runs" in capsys.readouterr().err


def test_a_sweep_is_sized_by_the_n_it_runs_not_the_top_level_n_it_replaces(tmp_path, capsys):
    """A sweep's n replaces the top-level n: a top-level n of 10^8 Gaussian points in 50 dimensions (2 TiB) that no
    grid point runs was refused; a grid point of that size is refused naming sweep.n, before any store."""
    def cfg(top, points):
        path = tmp_path / "s.toml"
        path.write_text(f'seed = 1\ngenerations = 1\nn = {top}\nreference_size = 50\n[world]\nkind = "gaussian"\n'
                        f'd = 50\n[family]\nkind = "gaussian"\n[[arms]]\nname = "a"\n[sweep]\nn = {points}\n')
        return str(path)

    out = tmp_path / "out"
    assert main(["sweep", cfg(100_000_000, "[60, 80]"), "-q", "--executor", "serial", "-o", str(out)]) == 0
    assert len(__import__("redqueen").Store(out).runs()) == 2
    capsys.readouterr()
    out2 = tmp_path / "out2"
    assert main(["sweep", cfg(60, "[60, 100000000]"), "-q", "-o", str(out2)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("redqueen: sweep.n = 100000000: arm 'a' needs about"), err
    assert "shrink world.d, sweep.n" in err and not out2.exists()


#: peak RSS (KiB, /usr/bin/time -f %M) of `redqueen run` of a regression world and family, 2 generations,
#: reference_size 1000, replace: (d, n) -> KiB, measured 2026-12-07
REGRESSION_PEAK_KIB = {(250, 100_000): 941_444, (500, 200_000): 3_296_156}


def test_the_memory_estimate_of_a_regression_world_counts_its_points():
    """A regression world's items are points of d + 1 columns, but were sized as 0 bytes: d = 500 and n = 200,000
    was estimated at 128 MiB (the interpreter) and used 3.3 GB, so a larger one would start and be OOM-killed."""
    from redqueen.runtime import memory
    from redqueen.runtime.config import validate

    small = validate({"n": 100, "generations": 2, "reference_size": 1000, "world": {"kind": "regression", "d": 5},
                      "family": {"kind": "regression"}, "arms": [{"name": "replace"}]})  # sized here, not on this machine
    for (d, n), peak in REGRESSION_PEAK_KIB.items():
        exp = small.model_copy(update={"n": n, "world": small.world.model_copy(update={"d": d})})
        total = sum(x.bytes for x in memory.needs(exp)[0][1])
        assert 1024 * peak <= total <= 2 * 1024 * peak, (d, n, total / 1024 / peak)


def test_a_sweep_whose_every_point_is_too_large_is_not_blamed_on_sweep_n():
    """When the smallest grid point fails as the others do (the world, not n, is too large), the refusal names
    the keys to shrink without pointing at sweep.n."""
    from redqueen.runtime import memory
    from redqueen.runtime.config import ConfigError, validate

    data = {"n": 60, "generations": 1, "world": {"kind": "zipf", "k": 1000}, "family": {"kind": "categorical"},
            "arms": [{"name": "a", "members": 8}], "sweep": {"n": [60, 80]}}
    small = sum(x.bytes for x in memory.needs(validate({**data, "sweep": None}))[0][1])
    real = memory.available
    try:
        memory.available = lambda: small / 2
        with pytest.raises(ConfigError) as e:
            validate(data)
    finally:
        memory.available = real
    assert not str(e.value).startswith("sweep.n") and "sweep.n" not in str(e.value), str(e.value)
