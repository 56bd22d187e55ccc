"""Tests of redqueen.evolve: operators against naive loops, genome round trips,
the ask/tell contract over every strategy, determinism, and a short digits run."""

from __future__ import annotations

import math

import numpy as np
import pytest

from redqueen.evolve import (
    CMAES,
    M2N2,
    DigitsTask,
    EvolveConfig,
    Layout,
    MapElites,
    attraction,
    dare,
    flatten,
    gaussian_mutation,
    lerp,
    mlp_correct,
    niche_fitness,
    run_evolve,
    slerp,
    splitpoint_slerp,
    svd_mutation,
    task_arithmetic,
    ties,
    unflatten,
)
from redqueen.evolve.digits import mlp_logits

D = 23


@pytest.fixture(scope="module")
def task() -> DigitsTask:
    return DigitsTask.load()


def vecs(seed: int, k: int = 2, d: int = D) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((k, d)).astype(np.float32)


# ---------------------------------------------------------------- naive references
def naive_dot(a, b) -> float:
    return sum(float(a[i]) * float(b[i]) for i in range(len(a)))


def naive_slerp_elem(x, y, ws) -> np.ndarray:
    """SLERP with a per-element weight list ``ws``; angle of the whole vectors."""
    cos = naive_dot(x, y) / math.sqrt(naive_dot(x, x) * naive_dot(y, y))
    omega = math.acos(max(-1.0, min(1.0, cos)))
    s = math.sin(omega)
    out = []
    for i in range(len(x)):
        w = ws[i]
        if s > 1e-6:
            a, b = math.sin((1 - w) * omega) / s, math.sin(w * omega) / s
        else:
            a, b = 1 - w, w
        out.append(a * float(x[i]) + b * float(y[i]))
    return np.array(out)


def naive_ties(base, tasks, density, lam) -> np.ndarray:
    k, d = tasks.shape
    keep = int(math.ceil(density * d))
    trimmed = []
    for t in range(k):
        tau = [float(tasks[t, i] - base[i]) for i in range(d)]
        order = sorted(range(d), key=lambda i: -abs(tau[i]))[:keep]
        trimmed.append([tau[i] if i in order else 0.0 for i in range(d)])
    out = []
    for i in range(d):
        total = sum(trimmed[t][i] for t in range(k))
        sign = (total > 0) - (total < 0)
        vals = [trimmed[t][i] for t in range(k) if trimmed[t][i] != 0 and ((trimmed[t][i] > 0) - (trimmed[t][i] < 0)) == sign]
        out.append(float(base[i]) + lam * (sum(vals) / len(vals) if vals else 0.0))
    return np.array(out)


# ---------------------------------------------------------------- operators
@pytest.mark.parametrize("w", [0.0, 0.3, 1.0])
def test_lerp_matches_naive(w):
    x, y = vecs(0)
    ref = [(1 - w) * float(x[i]) + w * float(y[i]) for i in range(D)]
    np.testing.assert_allclose(lerp(x, y, w), ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("w", [0.0, 0.25, 0.9, 1.0])
def test_slerp_matches_naive(w):
    x, y = vecs(1)
    out = slerp(x, y, w)
    assert out.dtype == np.float32 and out.shape == (D,)
    np.testing.assert_allclose(out, naive_slerp_elem(x, y, [w] * D), rtol=1e-5, atol=1e-5)


def test_slerp_parallel_falls_back_to_lerp():
    x = vecs(2)[0]
    np.testing.assert_allclose(slerp(x, 2 * x, 0.5), 1.5 * x, rtol=1e-6)


@pytest.mark.parametrize("split", [0, 1, 7, D - 1, D])
def test_splitpoint_slerp_matches_naive(split):
    x, y = vecs(3)
    w = 0.3
    ws = [w if i < split else 1 - w for i in range(D)]
    np.testing.assert_allclose(splitpoint_slerp(x, y, w, split), naive_slerp_elem(x, y, ws), rtol=1e-5, atol=1e-5)


def test_splitpoint_slerp_writes_into_out():
    x, y = vecs(3, d=1000)
    out = np.full(1000, np.nan, np.float32)
    res = splitpoint_slerp(x, y, 0.3, 400, out=out)
    assert res is out
    np.testing.assert_array_equal(out, splitpoint_slerp(x, y, 0.3, 400))


def test_task_arithmetic_matches_naive():
    base, *tasks = vecs(4, 4)
    tasks = np.stack(tasks)
    ref = [float(base[i]) + 0.7 * sum(float(t[i] - base[i]) for t in tasks) for i in range(D)]
    np.testing.assert_allclose(task_arithmetic(base, tasks, 0.7), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("density", [0.2, 0.5, 1.0])
def test_ties_matches_naive(density):
    base, *tasks = vecs(5, 4)
    tasks = np.stack(tasks)
    np.testing.assert_allclose(ties(base, tasks, density, 0.9), naive_ties(base, tasks, density, 0.9), rtol=1e-5, atol=1e-6)


def test_dare_matches_naive():
    base, *tasks = vecs(6, 3)
    tasks = np.stack(tasks)
    p = 0.4
    out = dare(base, tasks, p, np.random.default_rng(9), lam=0.5)
    u = np.random.default_rng(9).random(tasks.shape)
    ref = [
        float(base[i]) + 0.5 * sum((float(tasks[t, i] - base[i]) / (1 - p)) if u[t, i] >= p else 0.0 for t in range(2))
        for i in range(D)
    ]
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError):
        dare(base, tasks, 1.0, np.random.default_rng(0))


def test_gaussian_mutation_matches_naive_and_is_seeded():
    x = vecs(7)[0]
    out = gaussian_mutation(x, 0.1, np.random.default_rng(3))
    z = np.random.default_rng(3).standard_normal(D, dtype=np.float32)
    np.testing.assert_allclose(out, [float(x[i]) + 0.1 * float(z[i]) for i in range(D)], rtol=1e-6, atol=1e-6)
    assert out.dtype == np.float32


def test_svd_mutation_scales_each_singular_value_of_the_task_vector_by_a_uniform_factor():
    """The property CycleQD specifies, not the implementation: the mutated task vector of each matrix keeps its
    singular vectors, each singular value grows by a factor 1 + rate * U with U ~ U(0, 1) (KS test over 300 draws),
    and biases are copied."""
    from scipy.stats import kstest

    layout = Layout.from_shapes({"w": (6, 4), "b": (4,), "v": (3, 5)})
    base, x = vecs(8, 2, layout.size)
    rate, factors = 0.5, []
    for seed in range(300):
        out = svd_mutation(x, base, layout, rate, np.random.default_rng(seed))
        np.testing.assert_array_equal(out[layout.slice("b")], x[layout.slice("b")])
        for name, shape, sl in layout.items():
            if len(shape) != 2:
                continue
            tau = (x[sl] - base[sl]).reshape(shape).astype(np.float64)
            new = (out[sl] - base[sl]).reshape(shape).astype(np.float64)
            u, sv, vt = np.linalg.svd(tau, full_matrices=False)
            inner = u.T @ new @ vt.T  # in the old singular basis the new task vector is diagonal
            np.testing.assert_allclose(inner - np.diag(np.diag(inner)), 0, atol=1e-4)
            np.testing.assert_allclose(np.sort(np.linalg.svd(new, compute_uv=False)), np.sort(np.diag(inner)),
                                       rtol=1e-4)
            factors.extend((np.diag(inner) / sv - 1) / rate)
    factors = np.array(factors)
    assert factors.min() > -1e-4 and factors.max() < 1 + 1e-4
    assert kstest(np.clip(factors, 0, 1), "uniform").pvalue > 1e-3
    assert np.array_equal(svd_mutation(x, base, layout, 0.0, np.random.default_rng(0)), x)


# ---------------------------------------------------------------- genome
def test_numpy_dict_round_trip():
    rng = np.random.default_rng(0)
    params = {"a": rng.standard_normal((3, 4)), "b": rng.standard_normal(5).astype(np.float32), "c": np.array(2.0)}
    vec, layout = flatten(params)
    assert vec.dtype == np.float32 and vec.shape == (12 + 5 + 1,)
    assert layout.names == ("a", "b", "c") and layout.offsets == (0, 12, 17, 18)
    back = unflatten(vec, layout)
    for k, v in params.items():
        assert back[k].shape == np.shape(v)
        np.testing.assert_allclose(back[k], v, rtol=1e-6)
    np.testing.assert_array_equal(layout.views(vec)["a"], back["a"])
    with pytest.raises(ValueError):
        unflatten(vec[:-1], layout)


def test_torch_module_round_trip():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    vec, layout = flatten(net)
    assert layout.names == ("0.weight", "0.bias", "2.weight", "2.bias") and vec.shape == (4 * 3 + 3 + 3 * 2 + 2,)
    x = torch.randn(5, 4)
    before = net(x).detach().numpy()
    other = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    unflatten(vec, layout, into=other)
    np.testing.assert_allclose(other(x).detach().numpy(), before, rtol=1e-6)
    vec2, _ = flatten(dict(net.state_dict()))
    np.testing.assert_array_equal(vec, vec2)


# ---------------------------------------------------------------- digits
def test_digits_split_and_batched_evaluator(task):
    assert task.x_train.shape == (1437, 64) and task.x_test.shape == (360, 64)
    assert task.x_train.max() == 16.0  # raw pixels, as in M2N2's code
    assert task.dim == 19_210
    g = task.random_genomes(3, np.random.default_rng(0), std=0.1)
    ref = np.stack([mlp_logits(gi, task.x_train, task.layout).argmax(1) == task.y_train for gi in g])
    np.testing.assert_array_equal(mlp_correct(g, task.x_train, task.y_train, task.layout), ref)
    np.testing.assert_array_equal(task.scores(g[0]), ref[0])


def test_pretrained_models_know_their_half(task):
    g = task.pretrained_genomes(42)
    s = task.scores(g)
    low = task.y_train < 5
    assert s[0, low].mean() > 0.9 and s[1, ~low].mean() > 0.9
    assert s[0, ~low].mean() < 0.1 and s[1, low].mean() < 0.1


# ---------------------------------------------------------------- M2N2 internals
def naive_fitness(scores, alpha):
    p, n = scores.shape
    z = [sum(scores[k, j] for k in range(p)) for j in range(n)]
    z = [(zj if zj != 0 else 1.0) ** alpha for zj in z]
    f = [[scores[i, j] / z[j] for j in range(n)] for i in range(p)]
    return np.array([sum(r) for r in f]), np.array(f)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_niche_fitness_and_attraction_match_naive(alpha):
    s = (np.random.default_rng(1).random((5, 9)) < 0.4).astype(np.float32)
    s[:, 0] = 0  # a point nobody solves
    fit, f = niche_fitness(s, alpha)
    rfit, rf = naive_fitness(s, alpha)
    np.testing.assert_allclose(fit, rfit, rtol=1e-6)
    ref_attr = [sum(max(0.0, rf[k, j] - rf[2, j]) for j in range(9)) for k in range(5)]
    np.testing.assert_allclose(attraction(f, 2), ref_attr, rtol=1e-6, atol=1e-9)


def test_m2n2_choice_follows_weights_and_skips_zero_weights():
    from redqueen.evolve.m2n2 import _choice

    rng = np.random.default_rng(0)
    w = np.array([0.0, 1.0, 0.0, 3.0, 0.0])
    counts = np.bincount([_choice(rng, w, np.ones(5)) for _ in range(20_000)], minlength=5)
    assert counts[[0, 2, 4]].sum() == 0
    assert abs(counts[3] / counts[1] - 3.0) < 0.2
    assert {_choice(rng, np.zeros(3), np.array([0.0, 0.0, 1.0])) for _ in range(50)} == {2}  # all zero: fallback


class _TopRng:
    """A stand-in generator whose ``random()`` is as close to 1 as a double gets."""

    def random(self) -> float:
        return float(np.nextafter(1.0, 0.0))


def test_m2n2_choice_never_returns_a_trailing_zero_weight():
    from redqueen.evolve.m2n2 import _choice

    w = np.array([0.1, 0.2, 0.3, 0.0, 0.0])  # cdf[-1] * random() may round up to cdf[-1]
    assert _choice(_TopRng(), w, np.ones(5)) == 2


def test_m2n2_replaces_least_fit_and_keeps_rare_solvers():
    d = 4
    s = M2N2(initial=np.zeros((2, d)), archive_size=3, mutation_sigma=0.0, rng=0)
    # three members: two solve the common points, one solves only a rare point
    common = np.array([1, 1, 1, 0], np.float32)
    rare = np.array([0, 0, 0, 1], np.float32)
    s.tell(np.stack([np.full(d, 1.0), np.full(d, 2.0), np.full(d, 3.0)]), np.stack([common, common, rare]))
    assert sorted(s.archive_[:, 0]) == [1.0, 2.0, 3.0]
    # a child solving two common points is less fit than anyone: rejected
    s.tell(np.full((1, d), 4.0), np.array([[1, 1, 0, 0]], np.float32))
    assert 4.0 not in s.archive_[:, 0]
    # a child equal to a common solver ties with it and takes its place; the rare solver stays
    s.tell(np.full((1, d), 5.0), common[None])
    assert 5.0 in s.archive_[:, 0] and 3.0 in s.archive_[:, 0]
    # with alpha = 0 (plain GA) the rare solver is the least fit and goes
    g = M2N2(initial=np.zeros((2, d)), archive_size=3, alpha=0.0, rng=0)
    g.tell(np.stack([np.full(d, 1.0), np.full(d, 2.0), np.full(d, 3.0)]), np.stack([common, common, rare]))
    g.tell(np.full((1, d), 5.0), np.array([[1, 1, 0, 0]], np.float32))
    assert 3.0 not in g.archive_[:, 0]


# ---------------------------------------------------------------- ask/tell contract
def toy_scores(genomes: np.ndarray) -> np.ndarray:
    proj = np.random.default_rng(123).standard_normal((genomes.shape[1], 15)).astype(np.float32)
    return (genomes @ proj > 0).astype(np.float32)


STRATEGIES = {
    "m2n2": lambda init, rng: M2N2(initial=init, archive_size=6, rng=rng),
    "m2n2_batch": lambda init, rng: M2N2(initial=init, archive_size=6, batch_size=4, rng=rng),
    "m2n2_no_crossover": lambda init, rng: M2N2(initial=init, archive_size=6, crossover=False, rng=rng),
    "m2n2_no_splitpoint": lambda init, rng: M2N2(initial=init, archive_size=6, splitpoint=False, rng=rng),
    "ga": lambda init, rng: M2N2(initial=init, archive_size=6, alpha=0.0, matchmaker=False, rng=rng),
    "map_elites": lambda init, rng: MapElites(
        initial=init, measure_masks=np.stack([np.arange(15) % 2 == 0, np.arange(15) % 2 == 1]), rng=rng, batch_size=2
    ),
    "cma": lambda init, rng: CMAES(x0=init[0], popsize=6, sigma0=0.1, rng=rng),
}


def drive(name: str, seed: int, steps: int = 12) -> list[float]:
    init = np.random.default_rng(seed).standard_normal((2, 10)).astype(np.float32) * 0.1
    strat = STRATEGIES[name](init, np.random.default_rng(seed))
    curve = []
    for _ in range(steps):
        g = strat.ask()
        assert g.ndim == 2 and g.shape[1] == 10 and g.dtype == np.float32 and len(g) >= 1
        strat.tell(g, toy_scores(g))
        best, acc = strat.best()
        assert best.shape == (10,) and 0.0 <= acc <= 1.0
        np.testing.assert_allclose(toy_scores(best[None]).mean(), acc, atol=1e-6)
        curve.append(acc)
    return curve


def test_m2n2_cached_fitness_is_that_of_the_current_archive():
    init = np.random.default_rng(0).standard_normal((2, 10)).astype(np.float32)
    strat = M2N2(initial=init, archive_size=6, batch_size=2, rng=0)
    for _ in range(30):
        g = strat.ask()
        if strat._fitness is not None:
            np.testing.assert_array_equal(strat._fitness[0], niche_fitness(strat.scores_, 1.0)[0])
        strat.tell(g, toy_scores(g))


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_ask_tell_contract(name):
    curve = drive(name, 0)
    assert len(curve) == 12
    strat = STRATEGIES[name](np.ones((2, 10), np.float32), np.random.default_rng(0))
    g = strat.ask()
    with pytest.raises(ValueError):
        strat.tell(g, toy_scores(g)[:-1] if len(g) > 1 else np.zeros((2, 15)))


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_ask_with_explicit_rng_is_reproducible(name):
    if name == "cma":
        pytest.skip("pycma samples from the generator given at construction")
    init = np.random.default_rng(0).standard_normal((2, 10)).astype(np.float32)
    out = []
    for _ in range(2):
        strat = STRATEGIES[name](init, np.random.default_rng(0))
        g = strat.ask()
        strat.tell(g, toy_scores(g))
        out.append(strat.ask(np.random.default_rng(5)))
    np.testing.assert_array_equal(out[0], out[1])


# ---------------------------------------------------------------- runner
def test_config_rejects_unknown_and_inconsistent_fields():
    with pytest.raises(Exception, match="extra"):
        EvolveConfig(method="m2n2", sigma=0.1)
    with pytest.raises(Exception, match="scratch"):
        EvolveConfig(method="cma", init="pretrained")
    assert EvolveConfig(method="m2n2", crossover=False).arm == "m2n2-no_crossover"
    assert EvolveConfig(method="m2n2", matchmaker=False).arm == "m2n2-no_matchmaker"


@pytest.mark.parametrize("method", ["m2n2", "ga", "map_elites", "cma"])
def test_same_seed_same_curve_other_seed_other_curve(task, method):
    def curve(seed):
        cfg = EvolveConfig(method=method, seed=seed, budget=120, eval_every=40, archive_size=10)
        return [(r.forward_passes, r.best_train_acc, r.test_acc_of_best_on_train) for r in run_evolve(cfg, task)]

    a, b, c = curve(1), curve(1), curve(2)
    assert a == b
    assert a != c
    assert [p for p, _, _ in a] == [40, 80, 120]


def test_short_m2n2_run_beats_chance(task):
    recs = list(run_evolve(EvolveConfig(method="m2n2", seed=0, budget=1500, eval_every=500), task))
    assert [r.forward_passes for r in recs] == [500, 1000, 1500]
    last = recs[-1]
    assert last.method == "m2n2" and last.seed == 0 and last.seconds > 0
    assert last.best_train_acc > 0.3 and last.test_acc_of_best_on_train > 0.25  # chance is 0.1
    assert recs[-1].best_train_acc >= recs[0].best_train_acc - 0.05


def test_pretrained_merge_beats_either_parent(task):
    cfg = EvolveConfig(method="m2n2", init="pretrained", mutation_sigma=0.0, budget=300, eval_every=300)
    rec = list(run_evolve(cfg, task))[-1]
    assert rec.best_train_acc > 0.6  # each parent knows only half the digits (~0.49)


def _cma_on_one_coordinate(es, iterations):
    """Ask and tell ``iterations`` times on a fitness of the first coordinate only: the mean moves steadily along
    it while the other 999 keep the step size small, so the evolution path leaves pycma's 7.4-sigma band."""
    for _ in range(iterations):
        g = es.ask()
        es.tell(g, np.repeat(g[:, :1].astype(np.float64), 3, axis=1))
    return es


def test_cma_es_keeps_pycmas_z2_warning_off_stderr_and_its_numbers_and_other_warnings():
    """pycma warned "elements of z2[k] are larger than 55" once per distinct value (~100 lines on stderr in a long
    run, again on every resume's replay); now silenced inside our tell only, numbers unchanged, other warnings kept."""
    import warnings

    import cma

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = _cma_on_one_coordinate(CMAES(x0=np.zeros(1000), sigma0=0.01, popsize=8, rng=1), 300)
        replayed = CMAES(x0=np.zeros(1000), sigma0=0.01, popsize=8, rng=1)
        replayed.load_state(*ours.state())
    assert not [w for w in caught if "larger than 55" in str(w.message)]
    plain = CMAES(x0=np.zeros(1000), sigma0=0.01, popsize=8, rng=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(300):  # the same run with pycma's tell called bare: it warns, and reaches the same state
            g = plain.ask()
            plain.es_.tell(plain.asked_, (-g[:, 0].astype(np.float64)).tolist())
            plain.asked_ = None
    assert [w for w in caught if "larger than 55" in str(w.message)]
    assert np.array_equal(ours.es_.mean, plain.es_.mean) and np.array_equal(replayed.es_.mean, ours.es_.mean)
    assert ours.es_.sigma == plain.es_.sigma

    es = CMAES(x0=np.zeros(3), popsize=4, rng=0)

    def tell(*args, **kwargs):
        warnings.warn_explicit("elements of z2[k] are larger than 55: [(0, [1], 60.0)]", UserWarning, cma.__file__, 1,
                               module="cma.transformations")
        warnings.warn_explicit("something else", UserWarning, cma.__file__, 1, module="cma.transformations")

    es.es_.tell = tell
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = es.ask()
        es.tell(g, np.ones((4, 2)))
    assert [str(w.message) for w in caught] == ["something else"]
