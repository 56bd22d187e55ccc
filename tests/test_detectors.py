"""Detectors: the public contract over every implementation, the hashing against a naive reference, power against
real generators, plug-ins, and the detection metrics against scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from redqueen.data import Counts, Points, Sequences, Vocabulary
from redqueen.metrics import auc, filter_quality, tpr_at_fpr
from redqueen.models import gmm
from redqueen.models.detectors import (
    ClassifierDetector, HashedNGramDetector, LikelihoodRatioDetector, WatermarkDetector, check_detector,
    make_detector, perplexity_detector,
)
from redqueen.models.detectors.hashing import PRIME, hash_ngrams
from redqueen.models.ngram import NGramFamily
from redqueen.watermark import Watermark

from test_watermark import _bigram_corpus


@pytest.fixture(scope="module")
def text():
    """Real text from a bigram chain and synthetic text from a watermarked bigram model of it (fit/test splits)."""
    real = _bigram_corpus(seed=0, n=1600)
    gen = NGramFamily(order=2, alpha=0.05, max_len=30, watermark=Watermark(delta=2.0, key=3)).fit(real)
    fit_real, test_real = real.subset(np.arange(800)), real.subset(np.arange(800, 1600))
    return fit_real, gen.sample(800, np.random.default_rng(1)), test_real, gen.sample(800, np.random.default_rng(2))


@pytest.fixture(scope="module")
def cold(text):
    """Synthetic text sampled at temperature 0.5: more likely than real text under a model of the real text."""
    gen = NGramFamily(order=2, alpha=0.05, max_len=30, temperature=0.5).fit(text[0])
    return gen.sample(800, np.random.default_rng(5)), gen.sample(800, np.random.default_rng(6))


@pytest.fixture(scope="module")
def points():
    from redqueen.worlds.digits import Digits

    world = Digits()
    model = gmm(components=5, covariance_type="diag").fit(world.sample(600, np.random.default_rng(0)),
                                                          np.random.default_rng(0))
    return (world.sample(500, np.random.default_rng(1)), model.sample(500, np.random.default_rng(2)),
            world.sample(400, np.random.default_rng(3)), model.sample(400, np.random.default_rng(4)))


TEXT = {
    "hashed-tokens": lambda: HashedNGramDetector(n_features=2**14),
    "hashed-char_wb": lambda: HashedNGramDetector(analyzer="char_wb", ngram_range=(2, 3), n_features=2**12),
    "likelihood-ratio": lambda: LikelihoodRatioDetector(reference=lambda: NGramFamily(order=2, alpha=0.05)),
    "perplexity": lambda: perplexity_detector(reference=lambda: NGramFamily(order=2, alpha=0.05)),
    "watermark": lambda: WatermarkDetector(watermark={"delta": 2.0, "key": 3}),
}
POINTS = {
    "mlp": lambda: ClassifierDetector(params={"hidden_layer_sizes": [32], "max_iter": 200}),
    "logistic": lambda: ClassifierDetector(estimator="sklearn.linear_model:LogisticRegression", params={"max_iter": 300}),
    "lda": lambda: ClassifierDetector(estimator="sklearn.discriminant_analysis:LinearDiscriminantAnalysis"),
    "likelihood-ratio": lambda: LikelihoodRatioDetector(reference=lambda: gmm(components=3, covariance_type="diag")),
}


@pytest.mark.parametrize("name", TEXT)
def test_text_detector_contract_and_power(text, cold, name):
    fit_real, fit_syn, test_real, test_syn = text
    if name == "perplexity":  # it sees only a shift in likelihood: a cold sampler, not the watermarked one
        fit_syn, test_syn = cold
    check_detector(TEXT[name], fit_real, fit_syn)
    det = TEXT[name]().fit(fit_real, fit_syn, np.random.default_rng(0))
    a = auc(det.score(test_real), det.score(test_syn))
    # held-out AUC; character n-grams of numbered tokens see this generator only weakly (measured ~0.68)
    assert a > {"hashed-char_wb": 0.6}.get(name, 0.8), a


@pytest.mark.parametrize("name", POINTS)
def test_points_detector_contract_and_power(points, name):
    fit_real, fit_syn, test_real, test_syn = points
    check_detector(POINTS[name], fit_real, fit_syn)
    det = POINTS[name]().fit(fit_real, fit_syn, np.random.default_rng(0))
    a = auc(det.score(test_real), det.score(test_syn))
    assert a > (0.9 if name in ("mlp", "likelihood-ratio") else 0.5), a


def test_detectors_cannot_tell_a_set_from_itself(text):
    """Real against real (random halves): held-out AUC within 0.5 +- 0.08 (its sd is ~0.02 at 400 + 400)."""
    fit_real, _, test_real, _ = text
    a, b = fit_real.subset(np.arange(400)), fit_real.subset(np.arange(400, 800))
    for name in ("hashed-tokens", "likelihood-ratio"):
        det = TEXT[name]().fit(a, b, np.random.default_rng(0))
        score = det.score(test_real)
        assert abs(auc(score[:400], score[400:]) - 0.5) < 0.08, name


def test_hashing_equals_a_naive_loop():
    from sklearn.utils import murmurhash3_32

    rng = np.random.default_rng(0)
    data = Sequences.from_list([rng.integers(0, 50, int(rng.integers(0, 9))) for _ in range(40)],
                               Vocabulary(tuple(map(str, range(50)))))
    got = hash_ngrams(data, ngram_range=(1, 3), n_features=97, seed=5, norm=False).toarray()
    want = np.zeros_like(got)
    for i in range(len(data)):
        s = [int(t) for t in data[i]]
        for n in (1, 2, 3):
            for t in range(n - 1, len(s)):
                key = n
                for tok in s[t - n + 1:t + 1]:
                    key = (key * PRIME + tok) % 2**32
                key = key - 2**32 if key >= 2**31 else key  # as the int32 the hash reads
                want[i, murmurhash3_32(key, seed=5, positive=True) % 97] += 1
    np.testing.assert_array_equal(got, want)
    norm = hash_ngrams(data, ngram_range=(1, 3), n_features=97, seed=5).toarray()
    lengths = np.linalg.norm(norm, axis=1)
    assert np.allclose(lengths[want.sum(axis=1) > 0], 1.0)


def test_word_analyzer_reads_the_same_words_as_the_token_analyzer(text):
    """On a word-level vocabulary both analyzers see the same unigrams; they only hash them differently."""
    fit_real, *_ = text
    det = HashedNGramDetector(analyzer="word", ngram_range=(1, 1), n_features=2**20)
    words = det.features(fit_real)
    tokens = HashedNGramDetector(ngram_range=(1, 1), n_features=2**20).features(fit_real)
    np.testing.assert_array_equal(np.diff(words.indptr), np.diff(tokens.indptr))  # distinct words per item


def test_watermark_detector_scores_and_counts():
    det = WatermarkDetector(watermark=Watermark(context=0, key=4))
    counts = Counts(np.arange(20))
    s = det.score(counts)
    assert s.shape == (20,) and set(np.unique(s)) == {0.0, 1.0} and s.sum() == int(20 * 0.25)
    with pytest.raises(ValueError, match="context = 0"):
        WatermarkDetector(watermark=Watermark()).score(counts)
    restored = WatermarkDetector(watermark=Watermark()).load_state(det.state())
    np.testing.assert_array_equal(restored.score(counts), s)


def test_plugins_and_bad_names(monkeypatch):
    with pytest.raises(ValueError, match="is not allowed"):  # a classifier plug-in is imported only when allowed
        make_detector("classifier", estimator="no_such_module:Thing")
    monkeypatch.setenv("REDQUEEN_ALLOW_PLUGINS", "no_such_module")
    with pytest.raises(ValueError, match="cannot be imported"):
        make_detector("classifier", estimator="no_such_module:Thing")
    with pytest.raises(ValueError, match="has no class"):
        make_detector("classifier", estimator="sklearn.linear_model:NoSuchClass")
    with pytest.raises(ValueError, match="predict_proba"):
        make_detector("classifier", estimator="sklearn.linear_model:LinearRegression")
    with pytest.raises(ValueError, match="unknown detector"):
        make_detector("oracle")
    x = np.random.default_rng(0).normal(size=(200, 3))
    real, syn = Points(x[:100]), Points(x[100:] + 1.0)
    check_detector(lambda: make_detector("classifier", estimator="sklearn.naive_bayes:GaussianNB"), real, syn)
    with pytest.raises(ValueError, match="cannot be saved without pickle"):
        check_detector(lambda: make_detector("classifier", estimator="sklearn.tree:DecisionTreeClassifier"), real, syn)
    with pytest.raises(ValueError, match="rejected its parameters"):
        check_detector(lambda: make_detector("classifier", estimator="sklearn.naive_bayes:GaussianNB",
                                             params={"colour": 1}), real, syn)
    with pytest.raises(TypeError, match="reads Points"):
        ClassifierDetector().fit(Counts(np.ones(3)), Counts(np.ones(3)), np.random.default_rng(0))


class _Sloppy:
    """A detector that breaks the contract in a chosen way."""

    def __init__(self, flaw):
        self.flaw = flaw

    def fit(self, real, synthetic, rng):
        self.w_ = np.random.default_rng().random() if self.flaw == "global-randomness" else 0.5
        return None if self.flaw == "no-self" else self

    def score(self, data):
        n = len(data) + (1 if self.flaw == "shape" else 0)
        return np.full(n, 2.0 if self.flaw == "range" else self.w_)

    def state(self):
        return {"w": np.array([self.w_])} if self.flaw != "forgets" else {}

    def load_state(self, state):
        self.w_ = float(state["w"][0]) if "w" in state else 0.1
        return self


@pytest.mark.parametrize("flaw, match", [("no-self", "return the detector"), ("shape", "shape"), ("range", r"\[0, 1\]"),
                                         ("global-randomness", "same seed"), ("forgets", "round-trip|differently")])
def test_check_detector_catches_broken_detectors(flaw, match):
    x = Points(np.zeros((5, 2)))
    with pytest.raises(ValueError, match=match):
        check_detector(lambda: _Sloppy(flaw), x, x)


def test_auc_and_tpr_match_scikit_learn():
    rng = np.random.default_rng(0)
    for trial in range(20):
        real = rng.integers(0, 12, 300).astype(float) if trial % 2 else rng.normal(size=300)
        syn = (rng.integers(0, 12, 200) + 2).astype(float) if trial % 2 else rng.normal(0.7, 1, 200)
        wr, ws = rng.integers(1, 4, 300), rng.integers(1, 4, 200)
        y = np.r_[np.zeros(300), np.ones(200)]
        s = np.r_[real, syn]
        assert np.isclose(auc(real, syn), roc_auc_score(y, s))
        assert np.isclose(auc(real, syn, real_weights=wr, synthetic_weights=ws),
                          roc_auc_score(y, s, sample_weight=np.r_[wr, ws]))
        for target in (0.01, 0.1, 0.3):
            fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
            assert np.isclose(tpr_at_fpr(real, syn, target), tpr[fpr <= target + 1e-12].max())
    assert np.isnan(auc([], [1.0])) and np.isnan(tpr_at_fpr([0.0], []))


def test_filter_quality_counts_against_provenance():
    q = filter_quality(np.array([1, 1, 0, 0, 1], bool), np.array([1, 0, 1, 0, 1], bool))
    assert (q.precision, q.recall, q.false_positive_rate) == (2 / 3, 2 / 3, 1 / 2)
    w = filter_quality(np.array([1, 0], bool), np.array([1, 1], bool), weights=np.array([3, 1]))
    assert (w.precision, w.recall) == (1.0, 0.75) and np.isnan(w.false_positive_rate)
    assert np.isnan(filter_quality(np.zeros(3, bool), np.ones(3, bool)).precision)


def test_a_classifier_that_stops_at_its_limit_says_so_once_in_its_state_not_on_stderr(monkeypatch):
    """An MLP stopped by max_iter: no ConvergenceWarning escapes (an arena fits one a round), converged_ is False and
    survives state/load_state; a converged fit says True; other warnings still pass through."""
    import warnings

    import redqueen.models.detectors.classifier as classifier

    rng = np.random.default_rng(0)
    real, fake = Points(rng.normal(size=(200, 3))), Points(rng.normal(0.5, 1.0, size=(200, 3)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        short = ClassifierDetector(params={"hidden_layer_sizes": [8], "max_iter": 2}).fit(real, fake, rng)
    assert short.converged_ is False
    assert ClassifierDetector().load_state(short.state()).converged_ is False
    logistic = ClassifierDetector(estimator="sklearn.linear_model:LogisticRegression", params={}).fit(real, fake, rng)
    assert logistic.converged_ is True

    class Loud:
        def __init__(self, **kw):
            pass

        def get_params(self, deep=False):
            return {}

        def fit(self, x, y):
            warnings.warn("passes through", UserWarning)
            self.classes_ = np.array([0, 1])
            return self

    monkeypatch.setattr(classifier, "resolve_classifier", lambda spec: Loud)
    with pytest.warns(UserWarning, match="passes through"):
        det = ClassifierDetector(estimator="x:Loud", params={}).fit(real, fake, rng)
    assert det.converged_ is True
