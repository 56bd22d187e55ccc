"""The public contract (redqueen.testing) run over every world and every model family redqueen ships,
the scikit-learn plug-in adapter included; and that the checks catch what they promise to catch."""

import numpy as np
import pytest

from redqueen.data import Counts, Points
from redqueen.models import CategoricalFamily, GaussianFamily, LinearRegressionFamily, gmm, kde
from redqueen.testing import ContractError, check_family, check_world
from redqueen.worlds import RegressionWorld, gaussian, ring_mixture, wordfreq_world, zipf


def _digits():
    from redqueen.worlds.digits import Digits

    return Digits()


def _text():
    from redqueen.worlds.text import TextWorld

    return TextWorld(vocab_size=2000, max_len=24)


WORLDS = {
    "zipf": lambda: zipf(50, 1.2),
    "wordfreq": lambda: wordfreq_world("en", 300),
    "gaussian": lambda: gaussian(3, 1.0, 2.0),
    "mixture": lambda: ring_mixture(4, 2),
    "digits": _digits,
    "text": _text,
    "regression": lambda: RegressionWorld(4, sigma=0.5),
}
_CACHE: dict = {}


def world(name):
    if name not in _CACHE:
        _CACHE[name] = WORLDS[name]()
    return _CACHE[name]


def _ngram(**kw):
    from redqueen.models.ngram import NGramFamily

    return lambda: NGramFamily(order=2, max_len=24, **kw)


def _transformer(prompts="world"):
    pytest.importorskip("torch")
    from redqueen.models.neural import TransformerLMFamily

    pool = world("text").train if prompts == "world" else None  # what config prompts = "world" (the default) passes
    return lambda: TransformerLMFamily(d_model=16, n_layers=1, n_heads=2, context=32, steps=3, batch_size=8,
                                       prompt_len=2, max_new_tokens=6, prompts=pool)


def _vae():
    pytest.importorskip("torch")
    from redqueen.models.neural import VAEFamily

    return lambda: VAEFamily(latent_dim=2, hidden=(16,), epochs=2, batch_size=64)


def _plugin():
    from redqueen.models.sklearn import load_plugin

    return lambda: load_plugin("sklearn.mixture:BayesianGaussianMixture", {"n_components": 3, "max_iter": 50})


# (factory maker, world, training items, whether truncated sampling may give real items zero probability)
FAMILIES = {
    "categorical": (lambda: CategoricalFamily, "zipf", 500, False),
    "categorical-smoothed-biased": (lambda: lambda: CategoricalFamily(alpha=0.5, temperature=0.7, top_k=20, top_p=0.9),
                                    "zipf", 500, True),
    "categorical-watermarked": (lambda: lambda: CategoricalFamily(alpha=0.5, watermark={"context": 0, "delta": 2.0}),
                                "zipf", 500, False),
    "categorical-wordfreq": (lambda: CategoricalFamily, "wordfreq", 2000, False),
    "gaussian": (lambda: GaussianFamily, "gaussian", 500, False),
    "gaussian-unbiased": (lambda: lambda: GaussianFamily(ddof=1), "gaussian", 500, False),
    "gmm": (lambda: lambda: gmm(components=4), "mixture", 500, False),
    "kde": (lambda: lambda: kde(bandwidth=0.3), "mixture", 500, False),
    "gmm-digits": (lambda: lambda: gmm(components=3, covariance_type="diag"), "digits", 400, False),
    "plugin": (_plugin, "mixture", 300, False),
    "ngram": (lambda: _ngram(alpha=0.1), "text", 400, False),
    "ngram-kneser-ney": (lambda: _ngram(smoothing="kneser_ney"), "text", 400, False),
    "ngram-top-k": (lambda: _ngram(alpha=0.1, top_k=5), "text", 400, True),
    "transformer": (_transformer, "text", 60, False),
    # prompts = "none" takes prompts from the training data: state() carries that pool (fixed.prompts)
    "transformer-prompts-none": (lambda: _transformer("none"), "text", 60, False),
    "vae": (_vae, "digits", 200, False),
    "regression": (lambda: LinearRegressionFamily, "regression", 500, False),
    "regression-mle-known-noise": (lambda: lambda: LinearRegressionFamily(variance="mle", noise_std=1.0), "regression",
                                   500, False),
}


@pytest.mark.parametrize("name", WORLDS)
def test_world_contract(name):
    check_world(world(name))


@pytest.mark.parametrize("case", list(FAMILIES.values()), ids=list(FAMILIES))
def test_family_contract(case):
    make, world_name, n, zero_probability = case
    factory = make()
    data = world(world_name).sample(n, np.random.default_rng(0))
    check_family(factory, data, zero_probability=zero_probability)


class _Sloppy:
    """A family that breaks one promise at a time."""

    def __init__(self, *, broken: str = ""):
        self.broken = broken

    def fit(self, data, rng):
        self.probs_ = data.counts / data.counts.sum()
        if self.broken == "fit-mutates":
            data.counts[0] += 1
        if self.broken == "fit-random":
            self.probs_ = self.probs_ + np.random.default_rng().random(len(self.probs_)) * 1e-3
        return self

    def sample(self, n, rng):
        r = np.random.default_rng(0) if self.broken == "sample-ignores-rng" else rng
        counts = r.multinomial(n - (self.broken == "sample-short"), self.probs_ / self.probs_.sum())
        return Counts(counts)

    def log_prob(self, data):
        with np.errstate(divide="ignore"):
            lp = np.log(self.probs_)
        return lp[:-1] if self.broken == "log-prob-shape" else lp

    def state(self):
        return {"probs": self.probs_} if self.broken != "state-not-array" else {"probs": list(self.probs_)}

    def load_state(self, state):
        self.probs_ = np.asarray(state["probs"]) * (1.01 if self.broken == "load-state" else 1.0)
        return self


@pytest.mark.parametrize("broken, promise", [
    ("fit-mutates", "changed its training data"), ("fit-random", "same seed gives different states"),
    ("sample-ignores-rng", "ignores its generator"), ("sample-short", "returned 49 items"),
    ("log-prob-shape", "log_prob of its training data has shape"), ("state-not-array", "numeric numpy array"),
    ("load-state", "other log-probabilities"),
])
def test_check_family_catches_each_broken_promise(broken, promise):
    data = zipf(20, 1.0).sample(300, np.random.default_rng(0))
    check_family(_Sloppy, data)  # the honest version passes
    with pytest.raises(ContractError, match=promise):
        check_family(lambda: _Sloppy(broken=broken), data)


def test_check_world_catches_a_world_that_ignores_its_generator():
    class Fixed:
        def sample(self, n, rng):
            return Points(np.random.default_rng(0).normal(size=(n, 2)))

        def log_prob(self, data):
            return None

        def type_probs(self):
            return None

        def types(self, data):
            return None

        def describe(self):
            return {}

    with pytest.raises(ContractError, match="ignores its generator"):
        check_world(Fixed())


def test_a_plugin_that_breaks_the_contract_is_refused_before_the_run(tmp_path, monkeypatch):
    """The plug-in check is the whole contract, not a 4-sample smoke test: a plug-in whose samples ignore
    the seed it is given runs 4 samples fine but is refused."""
    import sys
    import types

    from sklearn.mixture import GaussianMixture

    class Deaf(GaussianMixture):
        def sample(self, n_samples=1):
            self.random_state = 0  # ignores the seed redqueen hands it
            return super().sample(n_samples)

    mod = types.ModuleType("deaf_plugin")
    mod.Deaf = Deaf
    monkeypatch.setitem(sys.modules, "deaf_plugin", mod)
    from redqueen.runtime.config import ConfigError, validate
    from redqueen.runtime.build import plan_arms, make_world

    from redqueen.plugins import allowing

    exp = validate({"world": {"kind": "mixture"}, "family": {"kind": "plugin", "cls": "deaf_plugin:Deaf",
                    "params": {"n_components": 2}}, "arms": [{"name": "a"}], "n": 200})
    with allowing(["deaf_plugin"]), pytest.raises(ConfigError, match="ignores its generator"):
        plan_arms(exp, make_world(exp.world))


def test_categorical_mle_and_smoothing():
    data = Counts(np.array([3, 0, 1]))
    assert np.allclose(CategoricalFamily().fit(data).probs_, [0.75, 0, 0.25])
    assert np.allclose(CategoricalFamily(alpha=1).fit(data).probs_, [4 / 7, 1 / 7, 2 / 7])


def test_gaussian_mle_matches_numpy(rng):
    x = rng.normal(size=(400, 2))
    m = GaussianFamily().fit(Points(x))
    np.testing.assert_allclose(m.cov_, np.cov(x, rowvar=False, ddof=0))
    np.testing.assert_allclose(m.mean_, x.mean(0))


@pytest.mark.parametrize("name", ["categorical", "gaussian"])
def test_any_float_family_is_a_genome(name):
    from redqueen.evolve.genome import family_genome, set_family_genome

    make, world_name, _, _ = FAMILIES[name]
    factory = make()
    data = world(world_name).sample(300, np.random.default_rng(0))
    model = factory().fit(data, np.random.default_rng(0))
    vec, layout = family_genome(model)
    assert vec.dtype == np.float32 and vec.ndim == 1
    other = set_family_genome(factory(), vec, layout)
    np.testing.assert_allclose(other.log_prob(data), model.log_prob(data), rtol=1e-5, atol=1e-6)
