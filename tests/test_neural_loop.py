"""The neural families through configs, the loop, warm start and checkpoints (skipped without torch)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the neural families need torch (pip install 'redqueen[neural]')")

from redqueen.runtime import checkpoint as ck  # noqa: E402
from redqueen.runtime import config as C  # noqa: E402
from redqueen.runtime.build import make_population, make_world, plan_arms  # noqa: E402
from redqueen.runtime.runner import run_experiment  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture
def corpus(tmp_path):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(40)]
    p = tmp_path / "c.txt"
    p.write_text("\n".join(" ".join(rng.choice(words, size=rng.integers(4, 10))) for _ in range(300)))
    return p


def _lm(corpus, **family):
    return C.validate({
        "seed": 5, "generations": 2, "n": 40, "reference_size": 20,
        "world": {"kind": "text", "corpus": str(corpus), "max_len": 12},
        "family": {"kind": "transformer", "d_model": 16, "n_layers": 1, "n_heads": 2, "steps": 3, "batch_size": 8,
                   "prompt_len": 3, "max_new_tokens": 5, **family},
        "arms": [{"name": "replace"}, {"name": "bank", "regime": "fresh", "real_fraction": 0.2, "real_source": "bank"}],
    })


def test_transformer_lm_through_the_loop(corpus):
    res = run_experiment(_lm(corpus, decoding="beam", num_beams=2, repetition_penalty=3.0))
    last = [r for r in res.records if r.generation == 2]
    assert len(last) == 2 and all(r.status == "ok" for r in last)
    for key in ("ppl_real", "ppl_gen0", "ppl_gen0_p50", "ppl_gen0_p99", "distinct_2", "self_bleu", "heterozygosity",
                "types_lost"):
        assert np.isfinite(last[0].metrics[key]), key
    again = run_experiment(_lm(corpus, decoding="beam", num_beams=2, repetition_penalty=3.0))
    assert [r.metrics for r in res.records] == [r.metrics for r in again.records]
    m = last[0].metrics
    assert m["ppl_gen0_p50"] <= m["ppl_gen0_p90"] <= m["ppl_gen0_p99"]


def test_warm_start_changes_the_trajectory(corpus):
    cold = run_experiment(_lm(corpus)).records
    warm = run_experiment(_lm(corpus, warm_start=True)).records
    assert cold[0].metrics == warm[0].metrics  # generation 0 trains from scratch either way
    assert cold[-1].metrics != warm[-1].metrics


def test_transformer_lineage_resumes_bitwise(corpus, tmp_path):
    exp = _lm(corpus, warm_start=True)
    world = make_world(exp.world)
    plan = plan_arms(exp, world)[0]
    full = [make_population(exp, world, plan, 0)]
    want = [full[0].step()[0].metrics for _ in range(3)]
    first = make_population(exp, world, plan, 0)
    got = [first.step()[0].metrics for _ in range(2)]
    ck.save(first, tmp_path / "l.safetensors")
    second = make_population(exp, world, plan, 0)
    ck.load(second, tmp_path / "l.safetensors")
    got.append(second.step()[0].metrics)
    assert got == want


def test_vae_on_digits_through_the_loop():
    exp = C.validate({
        "seed": 1, "generations": 1, "n": 120, "reference_size": 50, "world": {"kind": "digits"},
        "family": {"kind": "vae", "latent_dim": 2, "hidden": [16], "epochs": 2, "batch_size": 32},
        "arms": [{"name": "replace"}],
    })
    res = run_experiment(exp)
    assert [r.status for r in res.records] == ["ok", "ok"]
    for key in ("w1", "var_ratio", "nll_real", "heterozygosity"):
        assert np.isfinite(res.records[-1].metrics[key]), key


@pytest.mark.parametrize("coupling", [
    {"kind": "merge", "children": 2, "operator": "slerp", "mutation": "svd", "svd_rate": 0.5},
    {"kind": "quality_diversity", "children": 2, "reference": 50, "mutation": "svd", "svd_rate": 0.5},
])
def test_svd_mutation_inside_the_loop_on_vae_members(coupling):
    """CycleQD's SVD mutation on a VAE population: the children are built from mutated genomes (the run differs
    from the same run without mutation from the first merge on), every record is finite, and it is deterministic."""
    from redqueen.evolve.genome import genomes

    def run(mutation):
        exp = C.validate({
            "seed": 4, "generations": 2, "n": 120, "reference_size": 50, "world": {"kind": "digits"},
            "family": {"kind": "vae", "latent_dim": 2, "hidden": [16], "epochs": 2, "batch_size": 32},
            "arms": [{"name": "pop", "members": 3,
                      "couplings": [{**coupling, "mutation": mutation} if mutation == "svd"
                                    else {k: v for k, v in coupling.items() if k not in ("mutation", "svd_rate")}]}]})
        world = make_world(exp.world)
        pop = make_population(exp, world, plan_arms(exp, world)[0], 0)
        recs = pop.step() + pop.step()
        return recs, genomes(pop.models()).vectors

    recs, vec = run("svd")
    plain, plain_vec = run("none")
    assert all(r.status == "ok" and np.isfinite(r.metrics["w1"]) for r in recs)
    replaced = {r.member for r in recs if r.parents}
    assert replaced and not np.allclose(vec, plain_vec)
    again, again_vec = run("svd")
    assert np.array_equal(vec, again_vec) and [r.metrics for r in again] == [r.metrics for r in recs]
