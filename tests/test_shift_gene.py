"""The point families' ``shift`` (the arena's vector gene for points): a shifted model emits its fit's samples plus
the shift and scores x as its fit scores x - shift (the translated density, exactly); None is the plain model; the
gene is one value per dimension, starts at 0, evolves in a digits arena, replays and restores bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from redqueen.arena import genes as G
from redqueen.data import Points
from redqueen.models import GaussianFamily, gmm, kde
from redqueen.runtime import config as C
from redqueen.runtime.runner import run_experiment


def _points(seed=0, n=400, d=3):
    rng = np.random.default_rng(seed)
    return Points(rng.standard_normal((n, d)) * np.array([1.0, 0.5, 2.0])[:d] + np.arange(d))


def _vae():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from conftest import VAE_TINY
    from redqueen.models.neural import VAEFamily

    return lambda: VAEFamily(**VAE_TINY)


FAMILIES = {"gaussian": lambda: GaussianFamily, "gmm_diag": lambda: (lambda: gmm(components=2, covariance_type="diag")),
            "gmm_full": lambda: (lambda: gmm(components=2, covariance_type="full")),
            "kde": lambda: (lambda: kde(bandwidth=0.5)), "vae": _vae}


def _fitted(name, digits):
    make = FAMILIES[name]()
    x = digits if name == "vae" else _points()
    return make, make().fit(x, np.random.default_rng(1)), x


@pytest.mark.parametrize("name", list(FAMILIES))
def test_shift_translates_samples_and_density_exactly(name, digits):
    make, base, x = _fitted(name, digits)
    d = x.x.shape[1]
    assert base.dim() == d
    s = np.random.default_rng(2).normal(0, 0.3, d)
    moved = G.apply(make, base, ("shift",), s)
    np.testing.assert_array_equal(moved.sample(25, np.random.default_rng(3)).x,
                                  base.sample(25, np.random.default_rng(3)).x + s)
    probe = Points(x.x[:20])
    np.testing.assert_array_equal(moved.log_prob(probe), base.log_prob(Points(probe.x - s)))
    assert not np.allclose(moved.log_prob(probe), base.log_prob(probe))  # the density moved
    assert base.shift is None and moved.state().keys() == base.state().keys()  # the fit is not shifted
    with pytest.raises(ValueError, match="give one per dimension"):
        G.apply(make, base, ("shift",), np.zeros(d + 1)).log_prob(probe)


def test_a_shifted_mixture_is_a_density_centred_on_the_shift():
    """One dimension, three components: the shifted density integrates to 1 and its mean is the fit's plus the
    shift (quadrature on a fine grid), so it is the translated distribution, not a relabelled score."""
    rng = np.random.default_rng(4)
    x = Points(np.concatenate([rng.normal(-3, 0.5, (300, 1)), rng.normal(1, 1.0, (600, 1)), rng.normal(5, 0.3, (100, 1))]))
    make = lambda: gmm(components=3, covariance_type="diag")  # noqa: E731
    base = make().fit(x, np.random.default_rng(0))
    moved = G.apply(make, base, ("shift",), np.array([1.75]))
    grid = np.linspace(-20, 25, 40_001)[:, None]
    p, q = np.exp(base.log_prob(Points(grid))), np.exp(moved.log_prob(Points(grid)))
    assert abs(np.trapezoid(q, grid[:, 0]) - 1.0) < 1e-6
    mean = lambda f: np.trapezoid(f * grid[:, 0], grid[:, 0])  # noqa: E731
    assert abs(mean(q) - mean(p) - 1.75) < 1e-6


def test_shift_is_a_vector_gene_one_value_per_dimension():
    """It starts at 0 with the fitted model's width, mutates additively (the interpolation plus sigma z) and is
    recorded as its root mean square."""
    make, base, _ = _fitted("gaussian", None)
    rows = G.initial(make, ("temperature", "shift"), 4, base)
    assert rows.shape == (4, 4) and np.array_equal(rows[:, 0], np.ones(4)) and not rows[:, 1:].any()
    a, b = np.array([1.0, 0.2, -0.2, 0.0]), np.array([1.0, 0.0, 0.4, 1.0])
    got = G.child(("temperature", "shift"), a, b, 0.5, 0.1, np.random.default_rng(5))
    z = 0.1 * np.random.default_rng(5).standard_normal(4)
    assert np.allclose(got[1:], 0.5 * (a[1:] + b[1:]) + z[1:]) and np.isclose(got[0], np.exp(z[0]))
    assert G.summary(("temperature", "shift"), got)["shift"] == pytest.approx(np.sqrt(np.mean(got[1:] ** 2)))


def _digits_config(seed=12):
    from conftest import digits_arena_config

    return digits_arena_config({"kind": "gmm", "components": 3, "covariance_type": "diag", "reg_covar": 1e-2},
                               ["shift"], 0.05, regime="frozen", seed=seed, name="shift gene")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_shift_evolves_in_a_digits_arena_replays_and_restores_bit_for_bit(tmp_path):
    from test_arena import restored_steps_equal, same_records

    from redqueen.runtime.build import make_population, make_world, plan_arms

    first = run_experiment(C.validate(_digits_config()), checkpoints=False)
    assert [r.metrics["arena_shift"] for r in first.records if r.generation == 0] == [0.0] * 3
    assert any(r.metrics["arena_shift"] > 0 for r in first.records if r.generation == 3)
    assert same_records(first.records, run_experiment(C.validate(_digits_config()), checkpoints=False).records)
    exp = C.validate(_digits_config(seed=5))
    want, _ = restored_steps_equal(exp, tmp_path, before=2)
    assert any(r.metrics["arena_shift"] > 0 for r in want[-1])
    world = make_world(exp.world)
    pop = make_population(exp, world, plan_arms(exp, world)[0], 0)
    for _ in range(3):
        pop.step()
    shifts = [m.model.shift for m in pop.member_list]
    assert all(s.shape == (64,) for s in shifts) and any(np.abs(s).max() > 0 for s in shifts)


def test_shift_needs_a_point_family_with_a_genome():
    cfg = _digits_config()
    C.validate(cfg)
    cfg["family"] = {"kind": "kde"}
    with pytest.raises(ValueError):
        C.validate(cfg)


def test_every_gene_names_the_families_that_sample_with_it():
    """The config's gene names are redqueen.arena.genes.GENES, and each has its families (one list, not four)."""
    assert set(C.GENE_FAMILIES) == set(G.GENES) and set(G.BOUNDS) == set(G.GENES) and set(G.VECTOR) <= set(G.GENES)
