"""The collapse profile: the rule per definition, its error rate under no change, its power, onsets."""

import math

import numpy as np
import pytest

from redqueen.metrics.profile import collapse_profile, holm, profile_table, run_profiles


def naive_holm_rejects(p, alpha):
    order = np.argsort(p)
    rejected = np.zeros(len(p), bool)
    for rank, i in enumerate(order):
        if p[i] > alpha / (len(p) - rank):
            break
        rejected[i] = True
    return rejected


def test_holm_matches_the_step_down_procedure():
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = rng.random(rng.integers(1, 7)) ** 3
        adj = holm(p)
        for alpha in (0.01, 0.05, 0.2):
            assert np.array_equal(adj <= alpha, naive_holm_rejects(p, alpha))


def wright_fisher(rng, reps=20, gens=15, k=30, n=60):
    """Heterozygosity and types lost of categorical MLE refitting (Wright-Fisher)."""
    p0 = rng.dirichlet(np.ones(k))
    h = np.zeros((reps, gens + 1))
    lost = np.zeros((reps, gens + 1))
    for r in range(reps):
        p = rng.multinomial(n, p0) / n
        start = p > 0
        for g in range(gens + 1):
            h[r, g] = 1 - np.sum(p**2)
            lost[r, g] = np.sum(start & (p == 0))
            p = rng.multinomial(n, p) / n
    return {"heterozygosity": h, "types_lost": lost}


def test_drift_shows_tails_and_diversity_from_some_generation():
    prof = collapse_profile(wright_fisher(np.random.default_rng(1)))
    assert prof.holding() == ["tails", "diversity"]
    div = prof.row("diversity")
    assert div.metric == "heterozygosity" and div.change < 0 and div.high < 0 and div.p_holm < 0.05
    assert 1 <= div.onset <= 15
    assert div.relative == pytest.approx(div.change / abs(div.start))
    assert prof.row("error").metric is None and "not measured" in prof.row("error").note
    head, rows = profile_table(prof)
    assert len(rows) == 5 and len(head) == len(rows[0])
    d = prof.to_dict()
    assert d["rows"][2]["change"] is None and d["rows"][1]["holds"] is True


def test_family_wise_error_under_no_change_is_at_most_alpha():
    """200 profiles of three unchanged metrics (iid noise): P(any row holds) <= alpha + 3 se."""
    rng = np.random.default_rng(2)
    false = 0
    for _ in range(200):
        traj = {m: rng.normal(size=(8, 6)) for m in ("heterozygosity", "kl", "ppl_real")}
        false += bool(collapse_profile(traj).holding())
    assert false / 200 <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 200)


def test_power_at_the_stated_effect():
    """R = 5, a mean change of 1.4 sd(d), one row tested: found as often as the noncentral t says (~0.82)."""
    from scipy import stats

    power = 1 - stats.nct.cdf(stats.t.ppf(0.95, 4), 4, 1.4 * math.sqrt(5))
    rng = np.random.default_rng(3)
    found = 0
    for _ in range(400):
        x0 = rng.normal(size=5)
        traj = {"kl": np.stack([x0, x0 + rng.normal(1.4, 1.0, size=5)], axis=1)}
        found += collapse_profile(traj).row("error").holds
    assert abs(found / 400 - power) < 3 * math.sqrt(power * (1 - power) / 400)


def test_onset_is_the_generation_from_which_every_later_one_differs():
    rng = np.random.default_rng(4)
    base = rng.normal(scale=0.01, size=(10, 1))
    steps = np.array([0, 0, 0, 1, 0, 2, 2, 3, 3])  # a blip at 3, then from 5 on
    traj = {"ppl_real": base + steps[None, :] + rng.normal(scale=0.01, size=(10, 9))}
    row = collapse_profile(traj).row("perplexity")
    assert row.holds and row.onset == 5


def test_tradeoff_needs_precision_and_recall_and_reads_their_difference():
    rng = np.random.default_rng(5)
    prec = 0.9 + rng.normal(scale=0.01, size=(6, 4))
    rec = np.linspace(0.9, 0.4, 4)[None, :] + rng.normal(scale=0.01, size=(6, 4))
    row = collapse_profile({"precision": prec, "recall": rec}).row("tradeoff")
    assert row.holds and row.metric == "precision - recall" and row.change > 0.4
    both_fall = collapse_profile({"precision": rec, "recall": rec}).row("tradeoff")
    assert not both_fall.holds
    assert collapse_profile({"recall": rec}).row("tradeoff").metric is None


def test_one_replicate_reports_the_change_without_a_test():
    row = collapse_profile({"heterozygosity": np.array([[0.9, 0.5, 0.3]])}).row("diversity")
    assert row.holds is None and row.change == pytest.approx(-0.6) and "no test" in row.note


def test_run_profiles_read_records():
    from redqueen.loop.record import GenerationRecord

    rng = np.random.default_rng(6)
    traj = wright_fisher(rng, reps=6, gens=5)
    recs = [GenerationRecord("a", r, g, {"heterozygosity": traj["heterozygosity"][r, g]})
            for r in range(6) for g in range(6)]
    prof = run_profiles(recs)["a"]
    assert prof.row("diversity").change == pytest.approx(np.mean(traj["heterozygosity"][:, -1] - traj["heterozygosity"][:, 0]))


def test_run_profiles_take_a_population_mean_per_replicate_and_read_a_stream_once():
    """Members of one population are not replicates: the profile sees each replicate's member mean,
    and it reads a one-pass stream (the store's rows) as it reads a list."""
    from redqueen.loop.record import GenerationRecord

    rng = np.random.default_rng(7)
    het = rng.uniform(0.2, 0.9, size=(4, 3, 6))  # replicate, member, generation
    recs = [GenerationRecord("a", r, g, {"heterozygosity": het[r, m, g]}, member=m)
            for r in range(4) for m in range(3) for g in range(6)]
    prof = run_profiles(iter(recs))["a"]
    mean = het.mean(axis=1)
    assert prof.row("diversity").replicates == 4
    assert prof.row("diversity").change == pytest.approx(np.mean(mean[:, -1] - mean[:, 0]))
    # the last member alone (what overwriting by replicate gave) is a different number
    assert prof.row("diversity").change != pytest.approx(np.mean(het[:, -1, -1] - het[:, -1, 0]))


def test_the_profiles_of_one_world_share_its_terms_and_give_the_same_numbers():
    """A population's members each held a copy of the world's probabilities, their log and the tail weights (2.6 MB
    a member at K = 10^5): the profiles of one world array now share one read-only set, and measure the same."""
    import numpy as np

    from redqueen.metrics.diversity import DiversityProfile, WorldTerms

    rng = np.random.default_rng(3)
    world = rng.dirichlet(np.ones(500))
    a, b = DiversityProfile(world, world > 0.001), DiversityProfile(world, world > 0.002)
    assert a.log_world is b.log_world and a.tail_weights is b.tail_weights and not a.log_world.flags.writeable
    assert a.reference_present is not b.reference_present
    own = DiversityProfile(world.copy(), world > 0.001)  # another array: its own terms
    assert own.log_world is not a.log_world
    p = rng.dirichlet(np.ones(500) * 0.3)
    assert a(p) == own(p)
    assert DiversityProfile(world, None, tail_mass=0.2).tail is not a.tail  # the tail mass is part of the key
    key = (id(world), 0.1)
    assert key in WorldTerms._cache
    del a, b, world
    import gc

    gc.collect()
    assert key not in WorldTerms._cache  # gone with its array


def test_tail_mass_kept_of_a_pool_is_the_mean_of_its_members():
    """Why a population records no pool_tail_mass_kept: the measure is linear in the distribution."""
    import numpy as np

    from redqueen.metrics.diversity import DiversityProfile

    rng = np.random.default_rng(5)
    world = rng.dirichlet(np.ones(300))
    prof = DiversityProfile(world, world)
    members = rng.dirichlet(np.ones(300) * 0.2, size=6)
    pooled = prof(members.mean(axis=0))["tail_mass_kept"]
    assert pooled == np.float64(np.mean([prof(m)["tail_mass_kept"] for m in members])) or \
        abs(pooled - np.mean([prof(m)["tail_mass_kept"] for m in members])) < 1e-12


def test_shared_world_terms_follow_an_edited_array_and_never_freeze_the_callers():
    import numpy as np

    from redqueen.metrics.diversity import DiversityProfile

    rng = np.random.default_rng(9)
    w, p = rng.dirichlet(np.ones(50)), rng.dirichlet(np.ones(50))
    before = DiversityProfile(w, None)(p)["kl"]
    w[:] = rng.dirichlet(np.ones(50))  # the same array, new values: a new profile measures against them
    assert DiversityProfile(w, None)(p)["kl"] == DiversityProfile(w.copy(), None)(p)["kl"] != before
    assert w.flags.writeable
    z = np.zeros(5)
    DiversityProfile(z, z)
    assert z.flags.writeable  # an all-zero world is not normalised into the caller's own array, frozen
