"""Contract and determinism tests of the VAE family (tiny sizes, scikit-learn digits)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from redqueen.data import Points  # noqa: E402
from redqueen.models.neural import VAEFamily  # noqa: E402

torch.set_num_threads(1)
from conftest import VAE_TINY as TINY  # noqa: E402


def test_contract_shapes(tiny_vae, digits):
    s = tiny_vae.sample(17, np.random.default_rng(1))
    assert isinstance(s, Points) and s.x.shape == (17, 64)
    assert s.x.min() >= 0.0 and s.x.max() <= 16.0
    lp = tiny_vae.log_prob(digits)
    assert lp.shape == (200,) and np.all(np.isfinite(lp))
    np.testing.assert_array_equal(lp, tiny_vae.log_prob(digits))  # deterministic scoring
    assert tiny_vae.losses_.shape == (3,)
    noisy = VAEFamily(**TINY, sample_noise=True).fit(digits, np.random.default_rng(0)).sample(5, np.random.default_rng(1))
    assert not np.allclose(noisy.x, s.x[:5])


def test_same_seed_same_result_other_seed_differs(digits):
    a = VAEFamily(**TINY).fit(digits, np.random.default_rng(3))
    b = VAEFamily(**TINY).fit(digits, np.random.default_rng(3))
    c = VAEFamily(**TINY).fit(digits, np.random.default_rng(4))
    np.testing.assert_array_equal(a.genome(), b.genome())
    assert not np.array_equal(a.genome(), c.genome())
    np.testing.assert_array_equal(a.sample(4, np.random.default_rng(0)).x, b.sample(4, np.random.default_rng(0)).x)
    assert not np.array_equal(a.sample(4, np.random.default_rng(0)).x, a.sample(4, np.random.default_rng(1)).x)


def test_training_lowers_the_loss(digits):
    f = VAEFamily(**{**TINY, "epochs": 8}).fit(digits, np.random.default_rng(0))
    assert f.losses_[-1] < f.losses_[0]


def test_state_genome_and_warm_start(tiny_vae, digits):
    restored = VAEFamily(**TINY).load_state(tiny_vae.state())
    np.testing.assert_allclose(restored.log_prob(digits), tiny_vae.log_prob(digits))
    assert set(tiny_vae.state()) >= {"encoder.0.weight", "decoder.0.weight", "log_std"}
    g = tiny_vae.genome()
    assert g.dtype == np.float32 and g.shape == (sum(v.size for v in tiny_vae.state().values()),)
    other = VAEFamily(**TINY).fit(digits, np.random.default_rng(7)).set_genome(g)
    np.testing.assert_array_equal(other.sample(3, np.random.default_rng(0)).x, tiny_vae.sample(3, np.random.default_rng(0)).x)
    warm = VAEFamily(**{**tiny_vae.get_params(), "init_state": tiny_vae.state(), "lr": 0.0}).fit(digits, np.random.default_rng(1))
    np.testing.assert_array_equal(warm.genome(), g)
    with pytest.raises(ValueError):
        VAEFamily(**{**TINY, "latent_dim": 3, "init_state": tiny_vae.state()}).fit(digits, np.random.default_rng(1))


def test_scale_one_data(digits):
    f = VAEFamily(**{**TINY, "scale": 1.0}).fit(Points(digits.x / 16.0), np.random.default_rng(0))
    s = f.sample(6, np.random.default_rng(0))
    assert s.x.min() >= 0.0 and s.x.max() <= 1.0
    # log-density in data units: rescaling the data by 16 shifts it by 64 log 16
    g = VAEFamily(**TINY).load_state(f.state())
    np.testing.assert_allclose(g.log_prob(digits), f.log_prob(Points(digits.x / 16.0)) - 64 * np.log(16.0), rtol=1e-5)


def test_warm_start_helper(tiny_vae, digits):
    from redqueen.models.neural import warm_start

    fresh = VAEFamily(**{**TINY, "lr": 0.0})
    assert warm_start(fresh, None) is fresh
    warm = warm_start(fresh, tiny_vae)
    assert warm is not fresh and warm.init_state is not None and fresh.init_state is None
    np.testing.assert_array_equal(warm.fit(digits, np.random.default_rng(0)).genome(), tiny_vae.genome())
    class NoInit:
        def get_params(self):
            return {}

    with pytest.raises(TypeError):
        warm_start(NoInit(), tiny_vae)
