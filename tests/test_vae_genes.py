"""The VAE's latent temperature T (the arena's temperature gene): samples decode z ~ N(0, T^2 I), log_prob is the
IWAE bound under that prior (the likelihood under what the tempered model emits), the fit is untempered, T = 1 is
bitwise the plain model, and the gene evolves in a digits arena and replays."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from redqueen.arena import genes as G  # noqa: E402
from redqueen.data import Points  # noqa: E402
from redqueen.models.neural import VAEFamily  # noqa: E402
from redqueen.runtime import config as C  # noqa: E402
from redqueen.runtime.runner import run_experiment  # noqa: E402

torch.set_num_threads(1)
from conftest import VAE_TINY as TINY, digits_arena_config  # noqa: E402


def _tempered(model, t: float, **params):
    return G.apply(lambda: VAEFamily(**{**TINY, **params}), model, ("temperature",), np.array([t]))


def test_sample_decodes_the_tempered_prior(tiny_vae):
    """T = 0.5: the samples are the decoder's means at 0.5 z for the very z the untempered model draws (same rng),
    and not the untempered samples."""
    cold = _tempered(tiny_vae, 0.5)
    got = cold.sample(20, np.random.default_rng(3)).x
    z = np.random.default_rng(3).standard_normal((20, TINY["latent_dim"])).astype(np.float32)
    with torch.inference_mode():
        want = tiny_vae.model_.decode(torch.from_numpy(z) * 0.5).double().numpy() * tiny_vae.scale
    np.testing.assert_array_equal(got, want)
    assert not np.allclose(got, tiny_vae.sample(20, np.random.default_rng(3)).x)


def _exact_log_prob(model, x: np.ndarray, t: float) -> np.ndarray:
    """log int p(x | z) N(z; 0, t^2) dz for a one-dimensional latent, on a grid of 4,001 points over +-8 t."""
    z = np.linspace(-8 * t, 8 * t, 4001)
    dz = z[1] - z[0]
    xs = torch.from_numpy(np.asarray(x, np.float32) / np.float32(model.scale))
    with torch.inference_mode():
        mean = model.model_.decode(torch.from_numpy(z.astype(np.float32))[:, None])  # (grid, d)
        ll = model._log_lik(xs[:, None, :], mean[None, :, :]).double().numpy()  # (n, grid)
    log_prior = -0.5 * (z / t) ** 2 - np.log(t) - 0.5 * np.log(2 * np.pi)
    out = np.logaddexp.reduce(ll + log_prior[None, :], axis=1) + np.log(dz)
    return out - x.shape[1] * np.log(model.scale)


def test_log_prob_is_the_likelihood_under_the_tempered_prior(digits):
    """One latent dimension, so p_T(x) = int p(x | z) N(z; 0, T^2) dz is a quadrature: with 2,000 importance
    samples the IWAE estimate of the tempered model sits within 0.5 nat of it (a bound in expectation: one fixed draw
    can sit slightly above), for T = 0.5 and 2; the untempered bound is over 2 nats off the tempered likelihood on
    average (so the test can fail)."""
    x = digits.x[:12]
    base = VAEFamily(**{**TINY, "latent_dim": 1, "epochs": 20}).fit(digits, np.random.default_rng(1))
    for t in (0.5, 2.0):
        m = _tempered(base, t, latent_dim=1, eval_samples=2000)
        exact = _exact_log_prob(m, x, t)
        iwae = m.log_prob(Points(x))
        assert np.all(np.abs(iwae - exact) < 0.5), (t, iwae - exact)
        plain = _tempered(base, 1.0, latent_dim=1, eval_samples=2000).log_prob(Points(x))
        assert np.mean(np.abs(plain - exact)) > 2.0, (t, np.mean(np.abs(plain - exact)))


def test_temperature_one_is_bitwise_the_plain_model_and_the_fit_is_untempered(tiny_vae, digits):
    at_one = _tempered(tiny_vae, 1.0)
    np.testing.assert_array_equal(at_one.sample(30, np.random.default_rng(2)).x, tiny_vae.sample(30, np.random.default_rng(2)).x)
    np.testing.assert_array_equal(at_one.log_prob(digits), tiny_vae.log_prob(digits))
    trained_cold = VAEFamily(**TINY, temperature=0.5).fit(digits, np.random.default_rng(0))
    np.testing.assert_array_equal(trained_cold.genome(), tiny_vae.genome())  # T acts on sampling and scoring only
    assert not np.array_equal(trained_cold.log_prob(digits), tiny_vae.log_prob(digits))


def test_state_round_trip_keeps_the_tempered_model(tiny_vae, digits):
    """The state holds the trained weights (not T): loaded into a family with the same T, sample and log_prob are
    bitwise the tempered model's; warm start keeps T (get_params)."""
    cold = _tempered(tiny_vae, 0.6)
    assert all(np.array_equal(v, tiny_vae.state()[k]) for k, v in cold.state().items())
    back = VAEFamily(**TINY, temperature=0.6).load_state(cold.state())
    np.testing.assert_array_equal(back.sample(9, np.random.default_rng(4)).x, cold.sample(9, np.random.default_rng(4)).x)
    np.testing.assert_array_equal(back.log_prob(digits), cold.log_prob(digits))
    assert cold.get_params()["temperature"] == 0.6


def _digits_config(seed=12):
    return digits_arena_config({"kind": "vae", "latent_dim": 2, "hidden": [16], "epochs": 2, "scale": 1.0},
                               ["temperature"], 0.3, seed=seed, name="vae genes")


def test_vae_takes_the_temperature_gene_and_not_the_weight_temperature():
    C.validate(_digits_config())
    cfg = _digits_config()
    cfg["arms"][0]["couplings"][0]["genes"] = ["weight_temperature"]
    with pytest.raises(ValueError, match="gene 'weight_temperature' needs a family"):
        C.validate(cfg)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_vae_temperature_evolves_in_the_arena_on_digits_and_replays():
    first = run_experiment(C.validate(_digits_config()), checkpoints=False)
    start = [r.metrics["arena_temperature"] for r in first.records if r.generation == 0]
    last = [r.metrics["arena_temperature"] for r in first.records if r.generation == 3]
    assert start == [1.0] * 3 and any(v != 1.0 for v in last), last
    assert all(np.isfinite(r.metrics["arena_fidelity"]) for r in first.records)
    again = run_experiment(C.validate(_digits_config()), checkpoints=False)
    from test_arena import same_records

    assert same_records(first.records, again.records)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_checkpoint_restores_tempered_vaes_bit_for_bit(tmp_path):
    from test_arena import restored_steps_equal

    want, _ = restored_steps_equal(C.validate(_digits_config(seed=5)), tmp_path, before=2)
    assert any(r.metrics["arena_temperature"] != 1.0 for r in want[-1])
