"""Provenance travels with the data (every kind), the mixed curation stage, and the web regime."""

import numpy as np
import pytest

from redqueen.data import REAL, Counts, Points, Sequences, Vocabulary
from redqueen.loop import Filter, Fresh, Lineage, Noise, Population, Replace, Web
from redqueen.models import CategoricalFamily, GaussianFamily
from redqueen.worlds import gaussian, zipf

PROVENANCE_KEYS = {"train_synthetic_share", "train_real_items", "train_synthetic_items", "train_synthetic_age",
                   "mix_synthetic_share", "filter_precision", "filter_recall", "filter_fpr", "filter_removed",
                   "pool_synthetic_share", "pool_items"}


def _mixed_counts(rng):
    real = Counts(rng.integers(0, 20, 30)).tag(0, REAL)
    syn = Counts(rng.integers(0, 20, 30)).tag(1, 0)
    return real, syn, real.concat(syn)


def test_counts_keep_real_and_synthetic_apart():
    rng = np.random.default_rng(0)
    real, syn, both = _mixed_counts(rng)
    assert np.array_equal(both.real_counts(), real.counts) and np.array_equal(both.synthetic_counts(), syn.counts)
    c = both.composition()
    assert (c.real, c.synthetic, c.items) == (len(real), len(syn), len(both))
    taken = both.take(200, np.random.default_rng(1))
    plain = both.untracked().take(200, np.random.default_rng(1))
    assert np.array_equal(taken.counts, plain.counts)  # the same items as untracked, then split among origins
    assert np.array_equal(taken.by_origin.sum(0), taken.counts) and (taken.by_origin <= both.by_origin).all()
    # concat with itself merges the origin rows
    twice = both.concat(both)
    assert twice.origins.shape == (2, 2) and np.array_equal(twice.by_origin, 2 * both.by_origin)


def test_counts_split_is_hypergeometric_with_power():
    """One type with 30 real and 10 synthetic items; keep 20: real kept ~ Hypergeometric(30, 10, 20), mean 15,
    sd sqrt(20 * .75 * .25 * 20/39) = 1.387. 4,000 draws: the mean's 99.9% band is +-0.072; a split that kept
    items in proportion to origin rows instead of items (mean 10) or always real first (20) is far outside."""
    data = Counts(np.array([30])).tag(0, REAL).concat(Counts(np.array([10])).tag(1, 0))
    rng = np.random.default_rng(5)
    kept = np.array([data.keep(np.array([20]), rng).real_counts()[0] for _ in range(4000)])
    se = 1.387 / np.sqrt(4000)
    assert abs(kept.mean() - 15) < 3.3 * se
    assert abs(10 - 15) > 3.3 * se and abs(20 - 15) > 3.3 * se
    assert kept.var() == pytest.approx(1.387**2, rel=0.1)


def test_items_carry_their_origin_through_concat_subset_take():
    rng = np.random.default_rng(2)
    vocab = Vocabulary(tuple("abcdef"))
    for data in (Points(rng.standard_normal((50, 2))),
                 Sequences.from_list([rng.integers(0, 6, rng.integers(1, 5)) for _ in range(50)], vocab)):
        a, b = data.take(20, rng).tag(0, REAL), data.take(30, rng).tag(3, 2)
        both = a.concat(b)
        assert both.composition().real == 20 and both.composition().synthetic == 30
        assert both.composition().by_origin == (((0, REAL), 20), ((3, 2), 30))
        part = both.take(25, np.random.default_rng(4))
        same = both.untracked().take(25, np.random.default_rng(4))
        assert np.array_equal(part.to_arrays()["x" if isinstance(data, Points) else "tokens"],
                              same.to_arrays()["x" if isinstance(data, Points) else "tokens"])
        # origins stay aligned with items: item i of the subset is item idx[i] of the whole
        idx = np.array([0, 25, 19, 49])
        assert np.array_equal(both.subset(idx).origin, both.origin[idx])
        assert both.untracked().concat(b).origin is None  # untracked + tracked is untracked
        with pytest.raises(ValueError, match="no provenance"):
            data.composition()


def test_curation_keeps_provenance_and_draws_what_it_drew_untracked():
    rng = np.random.default_rng(3)
    _, _, counts = _mixed_counts(rng)
    world = zipf(30, 1.1)
    for step in (Noise(rate=0.3), Filter(keep=0.4, score="world")):
        tracked = step.apply(counts, None, world, np.random.default_rng(8))
        plain = step.apply(counts.untracked(), None, world, np.random.default_rng(8))
        assert np.array_equal(tracked.counts, plain.counts)
        assert np.array_equal(tracked.by_origin.sum(0), tracked.counts)
    # noise moves items between types but never between origins
    noisy = Noise(rate=0.3).apply(counts, None, world, np.random.default_rng(9))
    assert np.array_equal(noisy.by_origin.sum(1), counts.by_origin.sum(1))
    pts = Points(rng.standard_normal((40, 1))).tag(0, REAL).concat(Points(rng.standard_normal((40, 1))).tag(1, 0))
    g = gaussian(1)
    for step in (Noise(scale=0.5), Filter(keep=0.5, score="world")):
        out = step.apply(pts, None, g, np.random.default_rng(1))
        ref = step.apply(pts.untracked(), None, g, np.random.default_rng(1))
        assert np.array_equal(out.x, ref.x) and out.origin.shape == (len(out), 2)


@pytest.mark.parametrize("world,family", [(zipf(100, 1.1), CategoricalFamily), (gaussian(2), GaussianFamily)])
def test_tracking_provenance_changes_nothing_else(world, family):
    runs = {}
    for prov in (False, True):
        lin = Lineage(world=world, make_family=family, regime=Fresh(fraction=0.3), n=300, seed=4, provenance=prov,
                      curation=(Noise(rate=0.05, scale=0.1),))
        runs[prov] = [lin.step() for _ in range(4)]
    for a, b in zip(runs[False], runs[True]):
        assert set(b.metrics) - set(a.metrics) == {"train_synthetic_share", "train_real_items",
                                                   "train_synthetic_items", "train_synthetic_age"}
        assert all(a.metrics[k] == b.metrics[k] or (np.isnan(a.metrics[k]) and np.isnan(b.metrics[k]))
                   for k in a.metrics)
    shares = [r.metrics["train_synthetic_share"] for r in runs[True]]
    assert shares[0] == 0 and all(s == pytest.approx(0.7) for s in shares[1:])
    assert runs[True][2].metrics["train_synthetic_age"] == 1.0


def test_web_pool_grows_by_its_rates_and_records_its_synthetic_share():
    n, r, p = 200, 50, 100
    web = Web(real_rate=r, publish=p)
    lin = Lineage(world=zipf(50, 1.1), make_family=CategoricalFamily, regime=web, n=n, seed=1)
    recs = [lin.step() for _ in range(6)]
    for t, rec in enumerate(recs[1:], start=1):
        assert rec.train_size == n
        assert rec.metrics["pool_items"] == n + t * (p + r)
        assert rec.metrics["pool_synthetic_share"] == pytest.approx(web.synthetic_share(t, n), abs=1e-12)
    assert len(lin.pending) == p


def test_web_scrape_share_matches_the_pool_with_power():
    """The scrape is n of the pool without replacement: its synthetic share has the pool's mean. 40 lineages
    x generation 3 (pool share 300/800 = .375, scrape sd sqrt(.375 .625/200 (600/799)) = .0297): the mean's
    99.9% band is +-.0155, so a scrape biased by 0.05 towards either kind would be rejected."""
    web = Web(real_rate=100, publish=100)
    shares = []
    for rep in range(40):
        lin = Lineage(world=zipf(30, 1.0), make_family=CategoricalFamily, regime=web, n=200, seed=7, replicate=rep)
        recs = [lin.step() for _ in range(4)]
        shares.append(recs[3].metrics["train_synthetic_share"])
    want = web.synthetic_share(3, 200)
    assert want == pytest.approx(0.375)
    assert abs(np.mean(shares) - want) < 0.0155 < 0.05 - 0.0155


def test_shared_web_publishes_every_members_output():
    pop = Population(world=gaussian(1), make_family=GaussianFamily, regime=Web(real_rate=0, shared=True), n=100,
                     seed=2, members=3)
    for _ in range(3):
        recs = pop.step()
    assert all(r.metrics["pool_items"] == 100 + 2 * 3 * 100 for r in recs)
    comp = pop.member_list[0].pools.accumulated.composition()
    assert {m for (g, m), _ in comp.by_origin} == {REAL, 0, 1, 2}


@pytest.mark.parametrize("world,family", [(zipf(40, 1.1), CategoricalFamily), (gaussian(1), GaussianFamily)])
def test_migrants_carry_the_tag_of_the_member_that_emitted_them(world, family):
    """Ring migration at rate 0.4 among 3 members: member i's pending synthetic items are tagged with its own
    index and i - 1's (its donor), ~40% the donor's; without the fix every migrant carried the receiver's tag
    (the categorical family drew from the mixture, so no item knew its source)."""
    from redqueen.loop.couplings import Migration

    pop = Population(world=world, make_family=family, regime=Replace(), n=400, seed=5, members=3,
                     couplings=(lambda: Migration(rate=0.4, topology="ring"),), provenance=True)
    for _ in range(3):
        pop.step()
    for m in pop.member_list:
        comp = m.pending.composition()
        by = {mem: c for (g, mem), c in comp.by_origin}
        assert set(by) == {m.index, (m.index - 1) % 3}, by
        assert 0.3 < by[(m.index - 1) % 3] / comp.items < 0.5
    recs = pop.step()
    assert all(r.metrics["train_synthetic_share"] == 1.0 for r in recs)


def test_mixed_stage_sees_the_mix_and_is_measured():
    lin = Lineage(world=zipf(60, 1.1), make_family=CategoricalFamily, regime=Fresh(fraction=0.5), n=400, seed=3,
                  mixed_curation=(Filter(keep=0.5, score="world"),))
    recs = [lin.step() for _ in range(3)]
    for rec in recs[1:]:
        m = rec.metrics
        assert rec.train_size == 200 and m["filter_removed"] == 200
        assert m["mix_synthetic_share"] == pytest.approx(0.5)
        assert 0 <= m["filter_precision"] <= 1 and 0 <= m["filter_recall"] <= 1 and 0 <= m["filter_fpr"] <= 1
        # removed synthetic + removed real = removed
        syn, real = 200 * m["filter_recall"], 200 * m["filter_fpr"]
        assert syn + real == pytest.approx(200)


def test_plain_arms_record_no_provenance():
    lin = Lineage(world=zipf(60, 1.1), make_family=CategoricalFamily, regime=Replace(), n=100, seed=3)
    assert not (set(lin.step().metrics) & PROVENANCE_KEYS)
    assert lin.pools.bank.origins is None


@pytest.mark.parametrize("kind", ["counts-web-noise", "points-fresh-mixed-filter"])
def test_tracked_runs_resume_bitwise(tmp_path, kind):
    from redqueen.runtime import checkpoint as ck

    if kind == "counts-web-noise":
        kw = dict(world=zipf(80, 1.1), make_family=CategoricalFamily, regime=Web(real_rate=60, publish=150),
                  curation=(Noise(rate=0.05),), mixed_curation=(Noise(rate=0.02),))
    else:
        kw = dict(world=gaussian(2), make_family=GaussianFamily, regime=Fresh(fraction=0.4),
                  mixed_curation=(Filter(keep=0.6, score="world"),))

    def make():
        return Lineage(n=200, seed=6, **kw)

    full = [r.metrics for r in (lambda lin: [lin.step() for _ in range(6)])(make())]
    first = make()
    part = [first.step().metrics for _ in range(3)]
    ck.save(first, tmp_path / "l.safetensors")
    again = make()
    ck.load(again, tmp_path / "l.safetensors")
    assert again.pools.accumulated.tracked and again.pending.tracked
    rest = [again.step().metrics for _ in range(3)]
    for a, b in zip(full, part + rest):
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)
    assert "pool_synthetic_share" in full[-1] or "filter_recall" in full[-1]


def _config(**arm):
    return {"n": 100, "generations": 2, "world": {"kind": "zipf", "k": 50}, "family": {"kind": "categorical"},
            "arms": [{"name": "a", **arm}]}


@pytest.mark.parametrize("arm,message", [
    ({"regime": "replace", "web_real_rate": 10}, "web_real_rate apply to regime = 'web' only"),
    ({"regime": "web", "web_shared": True}, "web_shared needs a population"),
    ({"regime": "web", "web_real_rate": -1}, "web_real_rate"),
    ({"curation": [{"kind": "filter", "stage": "later"}]}, "stage"),
    ({"curation": [{"kind": "watermark", "stage": "mixed"}]}, "the family has no watermark"),
    ({"curation": [{"kind": "substitute"}]}, "attacks on a watermark edit token sequences"),
    ({"curation": [{"kind": "detector", "detector": "classifier"}]}, "detector 'classifier' reads points; use auto or types"),
    ({"curation": [{"kind": "resample", "clip": 0.5}]}, "clip"),
])
def test_config_refuses_bad_web_and_stage_keys_in_one_line(arm, message):
    from redqueen.runtime.config import ConfigError, validate

    with pytest.raises(ConfigError, match=message) as e:
        validate(_config(**arm))
    assert "\n" not in str(e.value)


def test_config_refuses_a_verifier_without_exact_world_scores():
    from redqueen.runtime.config import ConfigError, validate

    cfg = {"world": {"kind": "text"}, "family": {"kind": "ngram"},
           "arms": [{"name": "a", "curation": [{"kind": "verifier", "stage": "mixed"}]}]}
    with pytest.raises(ConfigError, match="world 'text' lacks"):
        validate(cfg)


def test_config_passes_the_family_watermark_to_the_watermark_filter():
    from redqueen.runtime import build
    from redqueen.runtime.config import validate

    cfg = _config(regime="web", curation=[{"kind": "watermark", "stage": "mixed", "z": 3.0}])
    cfg["family"]["watermark"] = {"gamma": 0.5, "delta": 1.0, "context": 0}
    exp = validate(cfg)
    step = build.plan_arms(exp, build.make_world(exp.world))[0].mixed_curation[0]
    assert step.z == 3.0 and step.watermark["gamma"] == 0.5 and step.watermark["context"] == 0


def test_config_builds_web_arms_with_mixed_steps():
    from redqueen.runtime import build
    from redqueen.runtime.config import validate

    exp = validate(_config(regime="web", web_real_rate=20, web_publish=50,
                           curation=[{"kind": "noise", "rate": 0.1}, {"kind": "filter", "keep": 0.5, "stage": "mixed"}]))
    world = build.make_world(exp.world)
    plan = build.plan_arms(exp, world)[0]
    assert plan.regime == Web(real_rate=20, publish=50)
    assert [c.name for c in plan.curation] == ["noise"] and [c.name for c in plan.mixed_curation] == ["filter"]
    pop = build.make_population(exp, world, plan, 0)
    assert pop.provenance and pop.oversample == 1.0  # a mixed-stage filter does not oversample the emit


def test_config_refuses_radioactivity_without_a_watermarked_text_family():
    from redqueen.runtime.config import ConfigError, validate

    with pytest.raises(ConfigError, match="radioactivity: the test needs a watermarked family on text"):
        validate(_config(radioactivity=100))


def test_memory_check_counts_the_growing_web_and_no_oversample_for_mixed_steps():
    from redqueen.runtime import memory
    from redqueen.runtime.config import validate

    exp = validate({"n": 1000, "generations": 100, "world": {"kind": "gaussian", "d": 4},
                    "family": {"kind": "gaussian"},
                    "arms": [{"name": "a", "regime": "web", "web_real_rate": 500,
                              "curation": [{"kind": "filter", "keep": 0.1, "stage": "mixed"}]}]})
    what = [n.what for n in memory.needs(exp)[0][1]]
    assert "a web of up to 151,000 items" in what
    assert not any("oversample" in w for w in what)
