"""The Red Queen arena: the frozen detector loses, the adapting one holds (with power), resume, config errors."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import stats

from redqueen.arena import DetectorRegime, threshold
from redqueen.arena.selection import ranking, replacements
from redqueen.data import Points
from redqueen.runtime import checkpoint
from redqueen.runtime import config as C
from redqueen.runtime.build import make_population, make_world, plan_arms
from redqueen.runtime.runner import run_experiment
from redqueen.runtime.store import Store
from test_resume import _cli, assert_same_records, kill_at_random_then_finish  # killable runs, compared
from pages import embedded_pngs  # every embedded image a PNG that decodes


def _text_config(regime: str, *, reps=4, gens=6, corpus="kjv", vocab=2000, n=1000, samples=200, web=0):
    arena = {"kind": "arena", "regime": regime, "samples": samples, "children": 2, "reference": 150,
             "genes": ["temperature"], "web": web, "detector": {"kind": "hashed_ngram", "n_features": 4096}}
    return {"name": "arena", "seed": 3, "generations": gens, "n": n, "replicates": reps, "reference_size": 150,
            "world": {"kind": "text", "corpus": corpus, "level": "word", "vocab_size": vocab, "max_len": 32},
            "family": {"kind": "ngram", "order": 2, "smoothing": "additive", "alpha": 0.01},
            "arms": [{"name": regime, "members": 4, "regime": "fresh", "real_fraction": 0.5, "couplings": [arena]}]}


def _drops(regime: str) -> tuple[np.ndarray, object]:
    res = run_experiment(C.validate(_text_config(regime)), checkpoints=False)
    auc = res.trajectory(regime, "det_auc")
    return auc[:, 0] - auc[:, -2:].mean(axis=1), res


def _falls(drops: np.ndarray) -> bool:
    """The AUC falls by more than 0.1 (one-sided t-test over replicates, alpha 0.05)."""
    return stats.ttest_1samp(drops, 0.1, alternative="greater").pvalue < 0.05


def _holds(drops: np.ndarray) -> bool:
    """The AUC falls by less than 0.1 (one-sided t-test over replicates, alpha 0.05)."""
    return stats.ttest_1samp(drops, 0.1, alternative="less").pvalue < 0.05


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_frozen_detector_loses_adapting_holds_with_power():
    """On King James bigrams (4 generators, 4 replicates, 6 rounds), the frozen detector's AUC against the current
    generators falls by more than 0.1 (generation 0 against the mean of the last two), the adapting one's by
    less. Power: the same two tests, given each other's replicates, must give the opposite verdicts -- the
    'holds' test rejects the frozen detector and the 'falls' test the adapting one -- so neither can pass on
    noise alone. Both arms start from the same generation 0 (same seed and detector)."""
    frozen, res_f = _drops("frozen")
    adapting, res_a = _drops("adapting")
    assert np.array_equal(res_f.trajectory("frozen", "det_auc")[:, 0], res_a.trajectory("adapting", "det_auc")[:, 0])
    assert _falls(frozen), frozen
    assert _holds(adapting), adapting
    assert not _holds(frozen) and not _falls(adapting)  # power: the opposite would have been detected
    # a frozen detector is one detector: every round's generators meet the same detector in every column
    last = [r for r in res_f.records if r.generation == 6][0]
    row = last.distribution("ciao_row")
    assert row.size == 7 and np.all(row == row[0])
    # the genes evolved, and a generator's metrics carry them
    temps = {r.metrics["arena_temperature"] for r in res_f.records if r.generation == 6}
    assert len(temps) > 1


def test_threshold_flags_at_most_the_rate():
    s = np.arange(200, dtype=float)
    t = threshold(s, 0.01)
    assert np.mean(s > t) <= 0.01 and np.mean(s >= t) > 0.01


def test_ranking_puts_feasible_evaders_first():
    evasion = np.array([0.9, 0.5, 0.7, 0.99])
    fidelity = np.array([-1.0, -1.0, -1.0, -9.0])  # the best evader breaks the fidelity constraint
    assert list(ranking(evasion, fidelity, floor=-2.0)) == [0, 2, 1, 3]
    plan = replacements(np.arange(4), evasion, fidelity, -2.0, 2, np.random.default_rng(0))
    assert sorted(p[0] for p in plan) == [1, 3] and all(a in (0, 2) and b in (0, 2) for _, a, b in plan)


def test_history_remembers_capacity_rounds_of_champions_or_generations():
    rng = np.random.default_rng(0)
    champs = [Points(np.full((10, 1), float(i))) for i in range(5)]
    gens = [Points(np.full((10, 1), 10.0 + i)) for i in range(5)]  # each round's whole generation, told apart
    kept = DetectorRegime("history", capacity=2).opponents(champs[-1], champs, gens, 100, rng)
    assert set(np.unique(kept.x)) == {3.0, 4.0}
    assert set(np.unique(DetectorRegime("history").opponents(champs[-1], champs, gens, 100, rng).x)) == set(range(5))
    kept = DetectorRegime("history", capacity=2, remember="generations").opponents(champs[-1], champs, gens, 100, rng)
    assert set(np.unique(kept.x)) == {13.0, 14.0}
    every = DetectorRegime("history", remember="generations").opponents(champs[-1], champs, gens, 30, rng)
    assert len(every) == 30 and set(np.unique(every.x)) <= {10.0 + i for i in range(5)}  # subsampled to the budget
    assert DetectorRegime("adapting").opponents(champs[0], champs, gens, 100, rng) is champs[0]
    with pytest.raises(ValueError, match="unknown detector regime"):
        DetectorRegime("sometimes")
    with pytest.raises(ValueError, match="unknown remember"):
        DetectorRegime("history", remember="everything")


def _corpus(tmp_path) -> str:
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)]
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(" ".join(rng.choice(words, size=rng.integers(3, 12))) for _ in range(2000)))
    return str(path)


def same_records(a, b) -> bool:
    """Two runs' records equal member by member and generation by generation (the order of completion aside)."""
    key = lambda r: (r.member, r.generation)  # noqa: E731
    return [(key(r), r.metrics) for r in sorted(a, key=key)] == [(key(r), r.metrics) for r in sorted(b, key=key)]


def restored_steps_equal(exp, tmp_path, before: int, after: int = 2):
    """Step a fresh population ``before`` times, checkpoint it, step ``after`` more; load the checkpoint into another
    fresh population and step it ``after`` times: every record equal (NaN = NaN). Returns the records, path."""
    world = make_world(exp.world)
    plan = plan_arms(exp, world)[0]
    pop = make_population(exp, world, plan, 0)
    for _ in range(before):
        pop.step()
    path = checkpoint.save(pop, tmp_path / "a.safetensors")
    want = [pop.step() for _ in range(after)]
    again = make_population(exp, world, plan, 0)
    checkpoint.load(again, path)
    got = [again.step() for _ in range(after)]
    for w, g in zip(want, got):
        for a, b in zip(w, g):
            assert a.metrics.keys() == b.metrics.keys()
            assert all(np.array_equal(a.metrics[k], b.metrics[k], equal_nan=True) for k in a.metrics)
            assert a.distributions == b.distributions and a.parents == b.parents
    return want, path


def test_checkpoint_restores_the_arena_bit_for_bit(tmp_path):
    """Save after round 2, load into a fresh population, and the next two rounds equal the uninterrupted ones."""
    cfg = _text_config("history", reps=1, gens=4, corpus=_corpus(tmp_path), vocab=300, n=300, samples=60, web=100)
    cfg["arms"][0]["couplings"][0]["heldout"] = 1
    exp = C.validate(cfg)
    want, path = restored_steps_equal(exp, tmp_path, before=3)
    assert "web_ppl_real" in want[-1][0].metrics and "det_auc_heldout" in want[-1][0].metrics
    # the report's arena section: the CIAO heat map (assembled from stored rows and columns) and the graph
    from redqueen.arena import ciao_matrix
    from redqueen.arena.ciao import arena_html

    recs = [r for step in want for r in step]
    m = ciao_matrix(recs, "history")
    assert m.shape == (5, 5) and np.all(np.isfinite(m[3:, :])) and np.all(np.isfinite(m[:, 3:]))
    section = arena_html(recs, exp.model_dump(mode="json"))
    assert len(embedded_pngs(section)) == 2
    assert arena_html(recs, exp.model_dump(mode="json")) == section  # two renders of one run: the same pictures
    # the CIAO row and column are a heat map, not per-item values: no histograms of them
    from redqueen.report import _distributions

    drawn = _distributions(recs, ["history"], "generation")
    assert "ciao_row" in dict(recs[0].distributions) and "Distribution of ppl_gen0" in drawn and "ciao" not in drawn


def test_history_of_whole_generations_restores_bit_for_bit_and_trains_on_other_opponents(tmp_path):
    corpus = _corpus(tmp_path)

    def config(**memory):
        cfg = _text_config("history", reps=1, gens=3, corpus=corpus, vocab=300, n=300, samples=60)
        cfg["arms"][0]["couplings"][0].update(heldout=1, **memory)
        return C.validate(cfg)

    want, _ = restored_steps_equal(config(remember="generations", capacity=2), tmp_path, before=2)
    champions, _ = restored_steps_equal(config(), tmp_path / "c", before=2)
    # rounds 0-1 share their detector (generation 0's, then one fit on round 1's champion or generation)
    assert want[-1][0].metrics["det_auc"] != champions[-1][0].metrics["det_auc"]


def test_arena_graph_layout_is_layered_and_fixed_whatever_the_hash_seed():
    """Layers left to right (real data, generators, detector, web, trained model), generators top to bottom in
    index order, and the drawing byte for byte the same under two hash seeds (the layout used to come from a
    set per layer, ordered by the hash seed)."""
    import subprocess
    import sys

    from redqueen.arena import arena_graph, arena_layout

    g = arena_graph(5, heldout=2, regime="history")
    pos = arena_layout(g)
    order = ["real data", "generator 0", "detector (history)", "web", "trained model"]
    assert [pos[n][0] for n in order] == sorted(pos[n][0] for n in order) and len({pos[n][0] for n in order}) == 5
    gens = [n for n in g.nodes if n.startswith("generator")]
    assert gens[3:] == ["generator 3 (held out)", "generator 4 (held out)"]
    assert [pos[n][1] for n in gens] == sorted((pos[n][1] for n in gens), reverse=True)  # generator 0 on top
    assert len({pos[n][0] for n in gens}) == 1
    script = ("import hashlib, io, sys\nfrom redqueen.arena import arena_graph, draw_arena\nbuf = io.BytesIO()\n"
              "draw_arena(arena_graph(6, heldout=2, regime='frozen'), buf)\nprint(hashlib.sha256(buf.getvalue()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", script], env={**__import__("os").environ, "PYTHONHASHSEED": seed},
                              capture_output=True, text=True, check=True).stdout for seed in ("1", "2")}
    assert len(digests) == 1, digests


def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    corpus = _corpus(tmp_path)
    arms = "".join(f"""
[[arms]]
name = "{r}"
members = 3
[[arms.couplings]]
kind = "arena"
regime = "{r}"
samples = 60
reference = 60
heldout = 1
web = 100
genes = ["temperature"]
detector = {{ kind = "hashed_ngram", n_features = 1024 }}
""" for r in ("frozen", "history"))
    cfg = tmp_path / "arena.toml"
    cfg.write_text(f'name = "a"\nseed = 5\ngenerations = 6\nn = 300\nreference_size = 60\n'
                   f'[world]\nkind = "text"\ncorpus = "{corpus}"\n[family]\nkind = "ngram"\nsmoothing = "additive"\n'
                   f'{arms}')
    ref_dir, killed_dir = tmp_path / "ref", tmp_path / "killed"
    t0 = time.monotonic()
    ref = _cli(["run", str(cfg)], ref_dir)
    assert ref.returncode == 0, ref.stderr.read().decode()
    duration = time.monotonic() - t0
    kill_at_random_then_finish(cfg, killed_dir, duration, np.random.default_rng(11), first=(0.0, 0.3),
                               after_first_records=True)
    assert_same_records(ref_dir, killed_dir)


BASE = """name = "a"
[world]
kind = "WORLD"
[family]
kind = "FAMILY"
SMOOTH
[[arms]]
name = "a"
members = MEMBERS
[[arms.couplings]]
kind = "arena"
EXTRA
"""


@pytest.mark.parametrize("world,family,members,extra,smooth,needle", [
    ("gaussian", "gaussian", 3, 'detector = { kind = "hashed_ngram" }', "", "detector 'hashed_ngram' cannot read points"),
    ("gaussian", "gaussian", 3, 'detector = { kind = "magic" }', "", "arena detector needs kind = one of"),
    ("gaussian", "gaussian", 3, 'detector = { kind = "classifier" }\ngenes = ["weight_temperature"]', "",
     "gene 'weight_temperature' needs a family that samples with it (gmm"),
    ("gaussian", "kde", 3, 'detector = { kind = "classifier" }\ngenes = ["temperature"]', "",
     "gene 'temperature' needs a family that samples with it"),
    ("gaussian", "gaussian", 3, 'detector = { kind = "classifier" }\nheldout = 3', "", "heldout = 3 leaves no generator"),
    ("gaussian", "gaussian", 1, 'detector = { kind = "classifier" }', "", "couplings need a population"),
    ("gaussian", "gaussian", 3, 'detector = { kind = "classifier" }\nregime = "sometimes"', "", "regime"),
    ("gaussian", "gaussian", 3, 'detector = { kind = "classifier" }\nfidelity = "vibes"', "", "fidelity"),
    ("gaussian", "gaussian", 3, 'detector = { kind = "classifier", estimator = "os:path" }', "", "detector"),
    ("gaussian", "gaussian", 3, 'detector = { kind = "classifier", colour = 3 }', "", "colour"),
    ("zipf", "categorical", 3, 'detector = { kind = "watermark", watermark = { gamma = 0.5 } }', "",
     "not a categorical world"),
    ("gaussian", "gaussian", 3, 'detector = { kind = "classifier" }\ngenes = ["logit_bias"]', "",
     "gene 'logit_bias' needs a family that samples with it (ngram"),
    ("text", "ngram", 3, 'detector = { kind = "hashed_ngram" }\ngenes = ["logit_bias", "top_p"]', "",
     "logit_bias and top_p cannot evolve together"),
    ("text", "ngram", 3, 'detector = { kind = "hashed_ngram" }\ngenes = ["logit_bias"]', "top_p = 0.9",
     "gene 'logit_bias' needs a family without top_k, top_p"),
    ("text", "ngram", 3, 'detector = { kind = "hashed_ngram" }\ngenes = ["shift"]', "",
     "gene 'shift' needs a family that samples with it (gaussian, gmm, vae"),
    ("gaussian", "kde", 3, 'detector = { kind = "classifier" }\ngenes = ["shift"]', "", "gene 'shift' needs a family"),
    ("text", "transformer", 3, 'detector = { kind = "hashed_ngram" }\ngenes = ["temperature"]', 'decoding = "greedy"',
     "gene 'temperature' acts on sampling, and decoding = 'greedy' does not sample"),
    ("text", "transformer", 3, 'detector = { kind = "hashed_ngram" }\ngenes = ["logit_bias"]', 'decoding = "beam"',
     "gene 'logit_bias' acts on sampling"),
    ("text", "transformer", 3, 'detector = { kind = "hashed_ngram" }\ngenes = ["logit_bias"]', "top_k = 5",
     "gene 'logit_bias' needs a family without top_k, top_p"),
    ("gaussian", "gaussian", 3, 'detector = { kind = "classifier" }\ncapacity = 3', "",
     "capacity and remember shape a history detector's memory, and regime = 'adapting' has none"),
    ("gaussian", "gaussian", 3, 'detector = { kind = "classifier" }\nregime = "frozen"\nremember = "generations"', "",
     "regime = 'frozen' has none; remove them or set regime = 'history'"),
    ("gaussian", "gaussian", 3, 'detector = { kind = "classifier" }\nregime = "history"\nremember = "all"', "",
     "remember"),
])
def test_config_errors_are_one_line(tmp_path, capsys, world, family, members, extra, smooth, needle):
    from redqueen.cli import main

    cfg = tmp_path / "bad.toml"
    cfg.write_text(BASE.replace("WORLD", world).replace("FAMILY", family).replace("MEMBERS", str(members))
                   .replace("EXTRA", extra).replace("SMOOTH", smooth))
    assert main(["run", str(cfg), "-q", "--no-report", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err and needle in err, err
    assert not (tmp_path / "out" / "runs.db").exists() or not Store(tmp_path / "out").runs()  # nothing written


def test_arena_fidelity_scores_a_transformer_with_its_temperature_in_force(tmp_path):
    """The transformer's ``log_prob`` scores its network (decoding biases aside), so the arena's fidelity uses
    ``decoded_log_prob``: a generator's temperature changes its likelihood of real text, as an n-gram's does."""
    pytest.importorskip("torch")
    from redqueen.arena import genes as G

    cfg = _text_config("adapting", reps=1, gens=1, corpus=_corpus(tmp_path), vocab=300, n=200, samples=40)
    cfg["family"] = {"kind": "transformer", "d_model": 16, "n_layers": 1, "n_heads": 2, "context": 32, "steps": 20,
                     "batch_size": 16, "prompt_len": 2, "max_new_tokens": 8, "end_token": True}
    cfg["arms"][0]["members"] = 2
    exp = C.validate(cfg)
    world = make_world(exp.world)
    pop = make_population(exp, world, plan_arms(exp, world)[0], 0)
    pop.step()
    arena = pop.coupling_list[0]
    model = pop.models()[0]
    tempered = [G.apply(pop.make_family, model, ("temperature",), np.array([t])) for t in (1.0, 0.4, 2.5)]
    fid = arena.fidelity(tempered)
    data = arena.scorer_.data
    np.testing.assert_allclose(fid[0], np.mean(model.log_prob(data) / (data.lengths() + 1)), rtol=1e-6)
    for m, f in zip(tempered, fid):
        np.testing.assert_allclose(f, np.mean(m.decoded_log_prob(data) / (data.lengths() + 1)), rtol=1e-6)
    assert abs(fid[1] - fid[0]) > 0.01 and abs(fid[2] - fid[0]) > 0.01, fid  # the gene is seen
    raw = arena.scorer_.log_likelihoods(tempered).mean(axis=1)
    np.testing.assert_allclose(raw, raw[0])  # what the fidelity was before: blind to the gene


def test_the_report_of_a_stored_arena_run_draws_each_arms_ciao_heat_map(tmp_path):
    """The report reads the store's records member by member for the arena section: every arena arm gets its CIAO
    heat map beside its graph (a members' mean, which the metric plots use, has no CIAO distributions)."""
    from redqueen import report

    cfg = _text_config("frozen", reps=1, gens=1, corpus=_corpus(tmp_path), vocab=300, n=200, samples=40)
    cfg["arms"].append({**cfg["arms"][0], "name": "history",
                        "couplings": [{**cfg["arms"][0]["couplings"][0], "regime": "history"}]})
    store = Store(tmp_path / "out")
    exp = C.validate(cfg)
    res = run_experiment(exp, store=store, checkpoints=False)
    text = report.write_report(store, [res.run_id], tmp_path / "r.html").read_text()
    for arm in ("frozen", "history"):
        assert f"alt='CIAO {arm}'" in text and f"alt='arena {arm}'" in text, arm
    assert "No CIAO matrix" not in text
    from redqueen.arena.ciao import arena_html
    from redqueen.report import member_means

    assert "No CIAO matrix" in arena_html(member_means(store.records(res.run_id)), exp.model_dump(mode="json"))


def test_a_transformers_logit_bias_gene_is_in_force_where_it_samples_and_where_fidelity_scores(tmp_path):
    """The transformer's bias gene has one value per token and the end symbol; applied, the generator's fidelity is
    its ``decoded_log_prob`` with the bias in force (a bias against real text costs likelihood), and its samples
    follow the bias."""
    pytest.importorskip("torch")
    from redqueen.arena import genes as G

    cfg = _text_config("adapting", reps=1, gens=1, corpus=_corpus(tmp_path), vocab=300, n=200, samples=40)
    cfg["family"] = {"kind": "transformer", "d_model": 16, "n_layers": 1, "n_heads": 2, "context": 32, "steps": 20,
                     "batch_size": 16, "prompt_len": 2, "max_new_tokens": 8, "end_token": True}
    cfg["arms"][0]["members"] = 2
    cfg["arms"][0]["couplings"][0].update(genes=["logit_bias"])
    exp = C.validate(cfg)
    world = make_world(exp.world)
    pop = make_population(exp, world, plan_arms(exp, world)[0], 0)
    pop.step()
    arena = pop.coupling_list[0]
    model = pop.models()[0]
    v = len(model.vocab_)
    assert G.width("logit_bias", model) == v + 1 == model.bos_ + 1
    end = np.zeros(v + 1)
    end[-1] = 30.0  # the end symbol all but certain: every sample ends at once
    zero, ends = (G.apply(pop.make_family, model, ("logit_bias",), b) for b in (np.zeros(v + 1), end))
    fid = arena.fidelity([model, zero, ends])
    data = arena.scorer_.data
    for m, f in zip((zero, ends), fid[1:]):
        np.testing.assert_allclose(f, np.mean(m.decoded_log_prob(data) / (data.lengths() + 1)), rtol=1e-6)
    assert fid[1] == pytest.approx(fid[0], rel=1e-6) and fid[2] < fid[0] - 1.0, fid
    assert ends.sample(50, np.random.default_rng(0)).lengths().max() == 0
    assert zero.sample(50, np.random.default_rng(0)).tokens.tolist() == model.sample(50, np.random.default_rng(0)).tokens.tolist()


def test_distance_fidelity_is_zero_on_real_data_and_grows_with_the_gap():
    from redqueen.arena.coupling import distance
    from redqueen.data import Sequences, Vocabulary
    from redqueen.metrics.divergence import wasserstein1

    rng = np.random.default_rng(0)
    vocab = Vocabulary(tuple(f"w{i}" for i in range(50)), "")
    real = Sequences.from_list([rng.integers(0, 50, rng.integers(3, 9)) for _ in range(300)], vocab)
    assert distance(real, real) == 0.0
    one = Sequences.from_list([[0] * 6 for _ in range(300)], vocab)  # one type: nearly disjoint frequencies
    near = Sequences.from_list([rng.integers(0, 50, rng.integers(3, 9)) for _ in range(300)], vocab)
    assert 0 < distance(near, real) < 0.1 < 0.5 < distance(one, real) <= np.log(2)
    short = Sequences.from_list([real[i][:1] for i in range(300)], vocab)  # the same tokens, cut: ends count
    assert distance(short, real) > distance(near, real)
    x = rng.normal(size=(400, 3))
    assert distance(Points(x + 1.0), Points(x)) == pytest.approx(wasserstein1(x + 1.0, x))
    assert distance(Points(x + 1.0), Points(x)) > distance(Points(x + 0.1), Points(x)) > 0


def test_top_p_gene_is_infeasible_under_likelihood_and_finite_under_distance(tmp_path):
    """A nucleus below 1 gives real tokens probability 0: the likelihood fidelity is -inf; the distance fidelity
    (minus a Jensen-Shannon divergence) stays finite, in [-log 2, 0], while top_p moves."""
    corpus = _corpus(tmp_path)
    out = {}
    for fidelity in ("likelihood", "distance"):
        cfg = _text_config("adapting", reps=1, gens=2, corpus=corpus, vocab=300, n=300, samples=60)
        arena = cfg["arms"][0]["couplings"][0]
        arena.update(genes=["top_p"], fidelity=fidelity, slack=0.05 if fidelity == "distance" else 1.0,
                     gene_sigma=0.5)
        exp = C.validate(cfg)
        world = make_world(exp.world)
        pop = make_population(exp, world, plan_arms(exp, world)[0], 0)
        recs = [r for _ in range(3) for r in pop.step()]
        out[fidelity] = [(r.metrics["arena_top_p"], r.metrics["arena_fidelity"]) for r in recs]
    cut = [f for p, f in out["likelihood"] if p < 0.999]
    assert cut and all(np.isneginf(cut))  # every truncated member is infeasible
    assert all(np.isfinite(f) and -np.log(2) <= f <= 0 for _, f in out["distance"])
    assert any(p < 0.999 for p, _ in out["distance"])


def test_gene_mutation_is_multiplicative_for_scalars_and_additive_for_the_bias():
    """A child's scalar genes are the parents' interpolation times e^{sigma z}, its logit bias the interpolation plus
    sigma z, from one draw of z; without a vector gene the draw and the result are what they were before the bias
    gene existed; the record carries the bias's root mean square."""
    from redqueen.arena import genes as G

    genes = ("temperature", "logit_bias")
    a, b = np.array([1.0, 0.0, 0.5, -0.5]), np.array([0.5, 1.0, -0.5, 0.5])
    got = G.child(genes, a, b, 0.25, 0.3, np.random.default_rng(4))
    z = 0.3 * np.random.default_rng(4).standard_normal(4)
    mid = 0.75 * a + 0.25 * b
    assert np.allclose(got, np.clip(np.r_[mid[0] * np.exp(z[0]), mid[1:] + z[1:]], -4, 4))
    old = G.child(("temperature",), a[:1], b[:1], 0.25, 0.3, np.random.default_rng(4))
    assert np.allclose(old, np.clip(mid[0] * np.exp(z[0]), 0.25, 4.0))
    assert G.split(genes, got)["temperature"] == got[0] and np.array_equal(G.split(genes, got)["logit_bias"], got[1:])
    assert G.summary(genes, got)["logit_bias"] == pytest.approx(np.sqrt(np.mean(got[1:] ** 2)))


def test_logit_bias_gene_evolves_and_restores_bit_for_bit(tmp_path):
    """The logit bias (one value per token and the end symbol) starts at 0, moves under selection, is in force in
    every member's model, and a checkpointed arena continues exactly as the uninterrupted one."""
    cfg = _text_config("frozen", reps=1, gens=4, corpus=_corpus(tmp_path), vocab=300, n=300, samples=60)
    cfg["arms"][0]["couplings"][0].update(genes=["logit_bias"], gene_sigma=0.3)
    exp = C.validate(cfg)
    want, _ = restored_steps_equal(exp, tmp_path, before=3)
    world = make_world(exp.world)
    pop = make_population(exp, world, plan_arms(exp, world)[0], 0)
    first = pop.step()
    assert all(r.metrics["arena_logit_bias"] == 0.0 for r in first)
    last = [pop.step() for _ in range(3)][-1]
    assert any(r.metrics["arena_logit_bias"] > 0 for r in last)
    v = len(pop.member_list[0].model.vocab_)
    biases = [m.model.logit_bias for m in pop.member_list]
    assert all(b.shape == (v + 1,) for b in biases) and any(np.abs(b).max() > 0 for b in biases)
