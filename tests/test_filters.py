"""Filters with real detectors and the attacks on a watermark, as curation steps; what they remove is measured."""

import numpy as np
import pytest

from redqueen.data import REAL, Counts, Points
from redqueen.loop import Lineage, Web, make_curation
from redqueen.loop.filters import DetectorFilter, Resample, Verifier, WatermarkFilter
from redqueen.loop.provenance import removal
from redqueen.models import CategoricalFamily, GaussianFamily
from redqueen.models.detectors import TypeDetector, check_detector
from redqueen.worlds import gaussian, zipf

WM = dict(gamma=0.25, delta=2.0, key=15485863, context=0)


class _Shifted:
    """A 'model' whose samples are N(shift, 1) in d dimensions (the last generation's model, for a detector)."""

    def __init__(self, shift, d=2):
        self.shift, self.d = shift, d

    def sample(self, n, rng):
        return Points(rng.standard_normal((n, self.d)) + self.shift)


def _mix_points(rng, shift, n=600):
    real = Points(rng.standard_normal((n, 2))).tag(1, REAL)
    syn = _Shifted(shift).sample(n, rng).tag(0, 0)
    return real.concat(syn)


def test_type_detector_passes_the_detector_contract():
    world = zipf(40, 1.1)
    rng = np.random.default_rng(0)
    check_detector(TypeDetector, world.sample(500, rng), CategoricalFamily(watermark=WM).fit(world.sample(500, rng)).sample(500, rng))


def test_detector_filter_separates_what_is_separable_and_not_what_is_not():
    rng = np.random.default_rng(1)
    world = gaussian(2)
    far = _mix_points(rng, 4.0)
    out = DetectorFilter(detector="classifier", examples=500).apply(far, _Shifted(4.0), world, np.random.default_rng(2))
    q = removal(far.composition(), out.composition())
    assert q["filter_recall"] > 0.95 and q["filter_fpr"] < 0.05
    same = _mix_points(rng, 0.0)  # synthetic = real in distribution: no detector can beat chance
    out = DetectorFilter(detector="classifier", examples=500).apply(same, _Shifted(0.0), world, np.random.default_rng(2))
    q = removal(same.composition(), out.composition())
    assert abs(q["filter_recall"] - q["filter_fpr"]) < 0.15


def test_watermark_filter_on_counts_drops_green_types_only():
    world = zipf(50, 1.0)
    rng = np.random.default_rng(3)
    syn = CategoricalFamily(watermark=WM).fit(world.sample(5000, rng)).sample(3000, rng).tag(0, 0)
    mix = world.sample(3000, rng).tag(1, REAL).concat(syn)
    out = WatermarkFilter(watermark=WM).apply(mix, None, world, rng)
    from redqueen.watermark import Watermark

    green = Watermark(**WM).greens(50).mask(np.ones(1, np.int64))[0]
    assert out.counts[green].sum() == 0 and np.array_equal(out.counts[~green], mix.counts[~green])
    q = removal(mix.composition(), out.composition())
    # the real items removed are exactly those of green types; the watermark tilts synthetic towards green
    assert q["filter_fpr"] == pytest.approx(mix.real_counts()[green].sum() / 3000)
    assert q["filter_recall"] > q["filter_fpr"] + 0.2


def test_verifier_accuracy_one_keeps_exactly_the_good_and_zero_exactly_the_bad():
    world = zipf(60, 1.1)
    rng = np.random.default_rng(4)
    mix = world.sample(2000, rng).tag(1, REAL).concat(
        CategoricalFamily(alpha=5.0).fit(world.sample(200, rng)).sample(2000, rng).tag(0, 0))
    good = Verifier(accuracy=1.0).goodness(mix, world, np.random.default_rng(9))
    kept = Verifier(accuracy=1.0).apply(mix, None, world, np.random.default_rng(9))
    assert np.array_equal(kept.counts, np.where(good, mix.counts, 0))
    bad = Verifier(accuracy=0.0).apply(mix, None, world, np.random.default_rng(9))
    assert np.array_equal(bad.counts, np.where(good, 0, mix.counts))


def test_verifier_keeps_good_items_at_its_accuracy_with_power():
    """Points: a = 0.8, 20,000 items; the kept shares of good and bad items are Binomial, sd = sqrt(.16/n):
    .0033 and .0054 here, so a verifier whose accuracy were off by .03 would miss either 4-sd band."""
    world = gaussian(1)
    rng = np.random.default_rng(5)
    pts = Points(rng.standard_normal((20000, 1)) * 1.5).tag(0, 0)
    v = Verifier(accuracy=0.8)
    good = v.goodness(pts, world, np.random.default_rng(6))
    kept = v.apply(pts, None, world, np.random.default_rng(6))  # same stream: the same reference sample
    kept_good = np.isin(kept.x[:, 0], pts.x[good, 0]).sum() / good.sum()
    kept_bad = np.isin(kept.x[:, 0], pts.x[~good, 0]).sum() / (~good).sum()
    assert abs(kept_good - 0.8) < 4 * np.sqrt(0.16 / good.sum()) < 0.03
    assert abs(kept_bad - 0.2) < 4 * np.sqrt(0.16 / (~good).sum()) < 0.03


def test_importance_resampling_recovers_the_real_distribution_with_power():
    """Counts over 5 types, real r and synthetic q known; with the exact detector (p = q / (q + r)) and the
    share estimated from it, the resampled set's type frequencies have mean r. 20,000 draws: each frequency's
    sd <= .0035; the mix's own frequencies differ from r by up to .15, and weights (1-p)/p (the share ignored)
    by >= .02, so either would fail the 4-sd band."""
    from redqueen.loop.filters import estimated_share

    r = np.array([0.4, 0.3, 0.15, 0.1, 0.05])
    q = np.array([0.1, 0.15, 0.2, 0.25, 0.3])
    n = 20000
    mix = Counts(np.round(r * n).astype(int)).tag(1, REAL).concat(Counts(np.round(q * n).astype(int)).tag(0, 0))
    step = Resample(keep=0.5, clip=1e6)
    p = q / (q + r)
    share = estimated_share(p, mix.weights(), np.dot(p, r), np.dot(p, q))
    assert share == pytest.approx(0.5)
    out = mix.resample(step.weights(p, share, mix.weights()), n, np.random.default_rng(7))
    f = out.counts / n
    band = 4 * np.sqrt(r * (1 - r) / n)
    assert np.all(np.abs(f - r) < band)
    assert np.abs(mix.frequencies() - r).max() > 0.1 + band.max()
    naive = (1 - p) / p * mix.counts
    assert np.abs(naive / naive.sum() - r).max() > 0.02 + band.max()
    assert np.array_equal(out.by_origin.sum(0), out.counts)


def test_keep_high_perplexity_keeps_the_complement_of_the_likelihood_filter():
    world = gaussian(1)
    pts = Points(np.random.default_rng(8).standard_normal((100, 1)))
    model = GaussianFamily().fit(pts)
    likely = make_curation("filter", keep=0.5).apply(pts, model, world, np.random.default_rng(0))
    unlikely = make_curation("perplexity", keep=0.5).apply(pts, model, world, np.random.default_rng(0))
    assert sorted(np.concatenate([likely.x, unlikely.x])[:, 0]) == sorted(pts.x[:, 0])


@pytest.mark.parametrize("kind,kw", [("watermark", {"watermark": WM}), ("detector", {}), ("resample", {}),
                                     ("verifier", {}), ("perplexity", {"keep": 0.5})])
def test_every_filter_runs_in_the_web_and_reports_precision_and_recall(kind, kw):
    lin = Lineage(world=zipf(100, 1.1), make_family=lambda: CategoricalFamily(watermark=WM), regime=Web(real_rate=300),
                  n=600, seed=2, mixed_curation=(make_curation(kind, **kw),))
    recs = [lin.step() for _ in range(4)]
    for rec in recs[1:]:
        for key in ("filter_precision", "filter_recall", "filter_fpr", "mix_synthetic_share", "pool_synthetic_share"):
            assert key in rec.metrics
        assert np.isfinite(rec.metrics["filter_recall"])


def test_attacks_weaken_the_watermark_in_the_loop():
    from redqueen.models.ngram import NGramFamily
    from redqueen.watermark import Watermark, detect
    from redqueen.worlds.text import TextWorld

    world = TextWorld(vocab_size=500, max_len=24)
    wm = dict(gamma=0.25, delta=4.0, key=7, context=1)
    model = NGramFamily(order=2, smoothing="additive", alpha=0.1, watermark=wm).fit(world.sample(2000, np.random.default_rng(0)))
    text = model.sample(300, np.random.default_rng(1))
    z = {}
    for name, step in (("none", None), ("substitute", make_curation("substitute", rate=0.5)),
                       ("paraphrase", make_curation("paraphrase", fraction=0.5, examples=500))):
        out = text if step is None else step.apply(text, model, world, np.random.default_rng(2))
        assert np.array_equal(out.offsets, text.offsets)
        z[name] = float(np.median(detect(Watermark(**wm), out).z))
    assert z["substitute"] < z["none"] - 1 and z["paraphrase"] < z["none"] - 1


def test_radioactivity_per_generation_sees_watermarked_training_data_and_its_filtering():
    """Generation 0 trains on real text only: z ~ N(0, 1) under the null (|z| < 4 fails 6e-5 of the time).
    Later generations train on a web ~half watermarked (delta 2): z > 10, far past any null value;
    with the watermark filter (z > 2) the training set is ~5% synthetic and the test is back near 0."""
    from redqueen.models.ngram import NGramFamily
    from redqueen.worlds.text import TextWorld

    world = TextWorld(vocab_size=500, max_len=24)
    wm = dict(gamma=0.25, delta=2.0, key=7, context=1)
    z = {}
    for name, steps in (("open", ()), ("filtered", (make_curation("watermark", z=2.0, watermark=wm),))):
        lin = Lineage(world=world, make_family=lambda: NGramFamily(order=2, smoothing="additive", alpha=0.1, watermark=wm),
                      regime=Web(real_rate=200), n=600, seed=1, radioactivity=200, mixed_curation=steps)
        z[name] = [lin.step().metrics["radioactivity_z"] for _ in range(3)]
    assert abs(z["open"][0]) < 4 and z["open"][0] == z["filtered"][0]
    assert min(z["open"][1:]) > 10
    assert max(abs(v) for v in z["filtered"][1:]) < 4
