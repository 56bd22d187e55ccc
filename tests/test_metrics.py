"""Every diagnostic against a naive reference implementation (tskit's ``naive_*`` habit).

The references are plain Python loops over lists, written from the
definitions, and are compared on seeded random inputs: probability vectors
and counts with zeros, ties and a single type.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from redqueen.metrics import (
    DiversityProfile, effective_size, fst, heterozygosity, hill, inbreeding, js, kl, richness, tail_mass_kept,
    tail_set, tv, types_lost, variance_ratio, wasserstein1,
)

SEEDS = range(25)


def random_distribution(rng: np.random.Generator, *, counts: bool = False) -> np.ndarray:
    """A random vector over 1..40 types: Dirichlet or counts, with some zeros and sometimes ties."""
    k = int(rng.integers(1, 41))
    p = rng.dirichlet(np.full(k, rng.uniform(0.1, 2.0)))
    if counts:
        p = rng.multinomial(int(rng.integers(1, 200)), p).astype(float)
    else:
        p[rng.random(k) < 0.2] = 0.0
        if rng.random() < 0.3:
            p = np.round(p, 1)  # ties
        if p.sum() == 0:
            p[0] = 1.0
    return p


def full_support(rng: np.random.Generator, k: int) -> np.ndarray:
    return rng.dirichlet(np.ones(k)) + 1e-3


# ------------------------------------------------------------------ naive references


def naive_normalise(p) -> list[float]:
    total = sum(float(x) for x in p)
    return [float(x) / total for x in p]


def naive_heterozygosity(p) -> float:
    q = naive_normalise(p)
    same = 0.0
    for i in range(len(q)):
        same += q[i] * q[i]
    return 1.0 - same


def naive_hill(p, order: float) -> float:
    q = [x for x in naive_normalise(p) if x > 0]
    if order == 0:
        return float(len(q))
    if order == 1:
        h = 0.0
        for x in q:
            h -= x * math.log(x)
        return math.exp(h)
    s = 0.0
    for x in q:
        s += x**order
    return s ** (1.0 / (1.0 - order))


def naive_richness(p) -> int:
    return sum(1 for x in p if x != 0)


def naive_types_lost(p, reference) -> int:
    return sum(1 for x, r in zip(p, reference) if r > 0 and x == 0)


def naive_tail_set(world, mass) -> list[bool]:
    w = naive_normalise(world)
    order = sorted(range(len(w)), key=lambda i: (w[i], i))
    mask = [False] * len(w)
    cum = 0.0
    for i in order:
        cum += w[i]
        if cum > mass + 1e-12:
            break
        mask[i] = w[i] > 0  # a type the world never produces is not one of its rare types
    return mask


def naive_tail_mass_kept(p, world, tail) -> float:
    q, w = naive_normalise(p), naive_normalise(world)
    wt = sum(w[i] for i in range(len(w)) if tail[i])
    if wt == 0:
        return float("nan")
    return sum(q[i] for i in range(len(q)) if tail[i]) / wt


def naive_kl(p, q) -> float:
    p, q = naive_normalise(p), naive_normalise(q)
    total = 0.0
    for a, b in zip(p, q):
        if a > 0:
            if b == 0:
                return float("inf")
            total += a * math.log(a / b)
    return total


def naive_tv(p, q) -> float:
    p, q = naive_normalise(p), naive_normalise(q)
    return 0.5 * sum(abs(a - b) for a, b in zip(p, q))


def naive_js(p, q) -> float:
    p, q = naive_normalise(p), naive_normalise(q)
    m = [(a + b) / 2 for a, b in zip(p, q)]
    return 0.5 * naive_kl(p, m) + 0.5 * naive_kl(q, m)


def naive_w1_1d(x, y) -> float:
    """Integral of |F_x - F_y| over the line, stepping through the merged sorted points."""
    x, y = sorted(float(v) for v in x), sorted(float(v) for v in y)
    points = sorted(x + y)
    total, i, j = 0.0, 0, 0
    for a, b in zip(points[:-1], points[1:]):
        while i < len(x) and x[i] <= a:
            i += 1
        while j < len(y) and y[j] <= a:
            j += 1
        total += abs(i / len(x) - j / len(y)) * (b - a)
    return total


def naive_variance_ratio(x, cov) -> float:
    n, d = len(x), len(x[0])
    total = 0.0
    for j in range(d):
        mean = sum(x[i][j] for i in range(n)) / n
        total += sum((x[i][j] - mean) ** 2 for i in range(n)) / n
    return total / sum(cov[j][j] for j in range(d))


def naive_effective_size(h) -> float:
    if len(h) < 2 or h[0] <= 0:
        return float("nan")
    num = den = 0.0
    used = 0
    for t, v in enumerate(h):
        if v > 0:
            used += 1
            num += t * math.log(v / h[0])
            den += t * t
    if used < 2:
        return float("nan")
    slope = num / den
    return float("inf") if slope >= 0 else 1.0 / (1.0 - math.exp(slope))


def naive_fst(rows, weights=None) -> float:
    m = len(rows)
    w = [1.0 / m] * m if weights is None else naive_normalise(weights)
    freqs = [naive_normalise(r) for r in rows]
    h_s = sum(w[i] * naive_heterozygosity(freqs[i]) for i in range(m))
    pooled = [sum(w[i] * freqs[i][k] for i in range(m)) for k in range(len(freqs[0]))]
    h_t = naive_heterozygosity(pooled)
    return (h_t - h_s) / h_t if h_t > 0 else 0.0


# ------------------------------------------------------------------ diversity


@pytest.mark.parametrize("seed", SEEDS)
def test_diversity_functions_match_naive(seed):
    rng = np.random.default_rng(seed)
    for counts in (False, True):
        p = random_distribution(rng, counts=counts)
        assert heterozygosity(p) == pytest.approx(naive_heterozygosity(p), abs=1e-12)
        for order in (0, 0.5, 1, 2, 3.5):
            assert hill(p, order) == pytest.approx(naive_hill(p, order), rel=1e-10)
        assert richness(p) == naive_richness(p)
        reference = random_distribution(rng, counts=counts)
        k = min(len(p), len(reference))
        assert types_lost(p[:k], reference[:k]) == naive_types_lost(p[:k], reference[:k])


def test_hill_numbers_order_and_limits():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(12))
    orders = [0, 0.5, 1, 2, 4]
    values = [hill(p, q) for q in orders]
    assert all(a >= b - 1e-12 for a, b in zip(values, values[1:]))  # non-increasing in q
    assert hill(p, 1 + 1e-7) == pytest.approx(hill(p, 1), rel=1e-5)  # continuous at q = 1
    assert hill(p, 2) == pytest.approx(1 / (1 - heterozygosity(p)))
    assert hill(np.ones(7), 0.5) == pytest.approx(7) and hill(np.ones(7), 1) == pytest.approx(7)
    assert hill(np.zeros(3), 1) == 0.0


def test_hill_infinity_is_inverse_berger_parker():
    assert hill(np.array([0.5, 0.3, 0.2]), np.inf) == pytest.approx(2.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_tail_set_and_mass_kept_match_naive(seed):
    rng = np.random.default_rng(seed)
    world = full_support(rng, int(rng.integers(2, 40)))
    if seed % 3 == 0:
        world = np.round(world, 2) + 0.01  # ties
    if seed % 4 == 1:
        world[rng.random(len(world)) < 0.3] = 0.0  # types the world lacks (an audit's reference)
        world[0] += 0.01
    mass = float(rng.choice([0.0, 0.05, 0.1, 0.3, 1.0]))
    tail = tail_set(world, mass)
    assert tail.dtype == bool and tail.tolist() == naive_tail_set(world, mass)
    p = random_distribution(rng)[: len(world)]
    p = np.pad(p, (0, len(world) - len(p)))
    if p.sum() == 0:
        p[0] = 1.0
    got, want = tail_mass_kept(p, world, tail), naive_tail_mass_kept(p, world, tail)
    assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, abs=1e-12)


def profile_by_functions(p, world, reference, mass) -> dict[str, float]:
    q = np.asarray(p, float) / np.sum(p)
    return {
        "heterozygosity": heterozygosity(p), "hill0": hill(p, 0), "hill1": hill(p, 1), "hill2": hill(p, 2),
        "entropy": math.log(hill(p, 1)), "types_lost": types_lost(p, reference),
        "tail_mass_kept": tail_mass_kept(p, world, tail_set(world, mass)),
        "kl": kl(q, world), "tv": tv(q, world), "js": js(q, world),
    }


@pytest.mark.parametrize("seed", SEEDS)
def test_diversity_profile_equals_the_single_functions(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 60))
    world = full_support(rng, k)
    if seed % 4 == 0:
        world[rng.random(k) < 0.2] = 0.0  # the model may put mass where the world has none: KL inf
        world[0] = max(world[0], 0.1)
    reference = rng.multinomial(50, world / world.sum())
    mass = float(rng.choice([0.05, 0.1, 0.2]))
    profile = DiversityProfile(world, reference, mass)
    for _ in range(3):
        p = rng.multinomial(int(rng.integers(1, 100)), world / world.sum()).astype(float)
        if seed % 4 == 0:
            p[rng.integers(k)] += 1
        got = profile(p)
        want = profile_by_functions(p, world / world.sum(), reference, mass)
        assert set(got) == set(want)
        for key, value in want.items():
            if math.isinf(value) or math.isnan(value):
                assert got[key] == value or (math.isnan(got[key]) and math.isnan(value)), key
            else:
                # js takes float32 logarithms in the profile (documented): absolute error below 1e-7 nats
                assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-7 if key == "js" else 1e-12), key
    # and against the naive loops
    p = rng.dirichlet(np.ones(k))
    got = profile(p)
    assert got["heterozygosity"] == pytest.approx(naive_heterozygosity(p))
    assert got["hill1"] == pytest.approx(naive_hill(p, 1))
    assert got["kl"] == pytest.approx(naive_kl(p, world))
    assert got["js"] == pytest.approx(naive_js(p, world))


def test_diversity_profile_without_world_or_reference():
    p = np.array([3.0, 0.0, 1.0])
    got = DiversityProfile(None, None)(p)
    assert set(got) == {"heterozygosity", "hill0", "hill1", "hill2", "entropy"}
    assert got["hill0"] == 2 and got["heterozygosity"] == pytest.approx(1 - (0.75**2 + 0.25**2))


# ------------------------------------------------------------------ divergence


@pytest.mark.parametrize("seed", SEEDS)
def test_divergences_match_naive(seed):
    rng = np.random.default_rng(seed)
    p = random_distribution(rng)
    q = random_distribution(rng)
    k = max(len(p), len(q))
    p, q = np.pad(p, (0, k - len(p))), np.pad(q, (0, k - len(q)))
    for a, b in ((p, q), (q, p), (p, p)):
        assert kl(a, b) == pytest.approx(naive_kl(a, b), rel=1e-10, abs=1e-12)
        assert tv(a, b) == pytest.approx(naive_tv(a, b), abs=1e-12)
        assert js(a, b) == pytest.approx(naive_js(a, b), abs=1e-12)
        assert 0 <= js(a, b) <= math.log(2) + 1e-12 and 0 <= tv(a, b) <= 1 + 1e-12
    assert kl(p, p) == pytest.approx(0, abs=1e-12)


def test_kl_is_infinite_off_support():
    assert kl([0.5, 0.5], [1.0, 0.0]) == math.inf
    assert kl([1.0, 0.0], [0.5, 0.5]) == pytest.approx(math.log(2))


@pytest.mark.parametrize("seed", range(10))
def test_wasserstein1_matches_naive(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=int(rng.integers(1, 30)))
    y = rng.normal(1.0, 2.0, size=int(rng.integers(1, 30)))
    assert wasserstein1(x, y) == pytest.approx(naive_w1_1d(x, y), rel=1e-10, abs=1e-12)
    assert wasserstein1(x[:, None], y[:, None]) == pytest.approx(naive_w1_1d(x, y), rel=1e-10, abs=1e-12)
    # sliced for d > 1: the mean over the same random unit directions
    d, proj = 3, 8
    xs, ys = rng.normal(size=(20, d)), rng.normal(size=(15, d)) + 0.5
    dirs = np.random.default_rng(seed + 100).standard_normal((d, proj))
    want = 0.0
    for j in range(proj):
        u = dirs[:, j] / math.sqrt(sum(v * v for v in dirs[:, j]))
        want += naive_w1_1d([sum(r * u) for r in xs], [sum(r * u) for r in ys]) / proj
    got = wasserstein1(xs, ys, projections=proj, rng=np.random.default_rng(seed + 100))
    assert got == pytest.approx(want, rel=1e-9)


def test_wasserstein1_of_a_shift():
    x = np.random.default_rng(0).normal(size=200)
    assert wasserstein1(x, x + 2.5) == pytest.approx(2.5)
    xs = np.random.default_rng(1).normal(size=(50, 2))
    assert wasserstein1(xs, xs) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_variance_ratio_matches_naive(seed):
    rng = np.random.default_rng(seed)
    d = int(rng.integers(1, 4))
    x = rng.normal(size=(int(rng.integers(2, 40)), d)) * rng.uniform(0.5, 2, size=d)
    a = rng.normal(size=(d, d))
    cov = a @ a.T + np.eye(d)
    assert variance_ratio(x, cov) == pytest.approx(naive_variance_ratio(x.tolist(), cov.tolist()), rel=1e-10)
    if d == 1:
        assert variance_ratio(x[:, 0], cov[0, 0]) == pytest.approx(naive_variance_ratio(x.tolist(), cov.tolist()))


# ------------------------------------------------------------------ popgen


def test_inbreeding_matches_definition():
    h = np.array([0.8, 0.6, 0.4, 0.0])
    np.testing.assert_allclose(inbreeding(h, 0.8), [1 - v / 0.8 for v in h])
    assert inbreeding(0.2, 0.8) == pytest.approx(0.75)
    assert np.isnan(inbreeding(h, 0.0)).all()


@pytest.mark.parametrize("seed", range(10))
def test_effective_size_matches_naive(seed):
    rng = np.random.default_rng(seed)
    h = 0.7 * np.cumprod(rng.uniform(0.8, 1.0, size=int(rng.integers(2, 30))))
    if seed % 3 == 0:
        h[len(h) // 2:] = 0.0  # fixation: those generations are skipped
    want, got = naive_effective_size(h.tolist()), effective_size(h)
    assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, rel=1e-10)


def test_effective_size_edge_cases():
    assert math.isnan(effective_size(np.array([0.5])))
    assert math.isnan(effective_size(np.array([0.0, 0.3])))
    assert math.isnan(effective_size(np.array([0.5, 0.0, 0.0])))
    assert effective_size(np.array([0.5, 0.5, 0.6])) == math.inf
    assert effective_size(0.5 * (1 - 1 / 37) ** np.arange(20)) == pytest.approx(37)


def wright_fisher(pi, n, generations, replicates, rng):
    """Heterozygosity (replicates, T+1) of the resampled frequencies: the Wright-Fisher model."""
    p = np.broadcast_to(pi, (replicates, len(pi)))
    h = [1 - np.sum(p * p, axis=1)]
    for _ in range(generations):
        p = rng.multinomial(n, p) / n
        h.append(1 - np.sum(p * p, axis=1))
    return np.stack(h, axis=1)


@pytest.mark.parametrize("n", [20, 100, 400])
def test_effective_size_recovers_n_from_wright_fisher(n):
    rng = np.random.default_rng(n)
    k = 2000
    pi = np.full(k, 1 / k)
    # about N generations at most: later the mean of H_t is too noisy relative to its size
    h = wright_fisher(pi, n, generations=min(n, 40), replicates=400, rng=rng)
    assert effective_size(h.mean(axis=0)) == pytest.approx(n, rel=0.07)
    # single lineages with many types are rougher (and biased up by up to ~25% at small N)
    single = np.array([effective_size(row) for row in h[:20]])
    assert np.median(single) == pytest.approx(n, rel=0.3)
    # a population that drifts twice as fast has half the size
    h2 = wright_fisher(pi, n // 2, generations=min(n // 2, 40), replicates=400, rng=rng)
    assert effective_size(h2.mean(axis=0)) == pytest.approx(n / 2, rel=0.07)


@pytest.mark.parametrize("seed", SEEDS)
def test_fst_matches_naive(seed):
    rng = np.random.default_rng(seed)
    m, k = int(rng.integers(2, 8)), int(rng.integers(2, 20))
    rows = rng.multinomial(int(rng.integers(5, 100)), rng.dirichlet(np.ones(k)), size=m).astype(float)
    rows[rows.sum(axis=1) == 0, 0] = 1.0
    weights = rng.uniform(0.1, 1.0, size=m) if seed % 2 else None
    got = fst(rows, weights)
    assert got == pytest.approx(naive_fst(rows.tolist(), None if weights is None else weights.tolist()), abs=1e-12)
    assert -1e-12 <= got <= 1 + 1e-12


def test_multi_locus_fst_is_fst_at_one_locus_and_nei_s_ratio_of_sums_across_loci():
    from redqueen.metrics.popgen import fst_loci

    rng = np.random.default_rng(0)
    f = rng.dirichlet(np.ones(5), size=(4, 3))  # 4 subpopulations, 3 loci, 5 alleles
    for locus in range(3):
        assert fst_loci(f[:, locus : locus + 1]) == pytest.approx(fst(f[:, locus]), abs=1e-12)
    h_s = [np.mean([1 - np.sum(f[i, l] ** 2) for i in range(4)]) for l in range(3)]
    h_t = [1 - np.sum(f[:, l].mean(axis=0) ** 2) for l in range(3)]
    assert fst_loci(f) == pytest.approx((sum(h_t) - sum(h_s)) / sum(h_t), abs=1e-12)
    alike = np.broadcast_to(f[:1], f.shape)
    assert fst_loci(alike) == pytest.approx(0.0, abs=1e-12) and fst_loci(np.tile(np.eye(3)[:, None], (1, 2, 1))) == 1.0
    assert np.isnan(fst_loci(np.ones((2, 3, 1))))  # one allele everywhere: nothing varies


def test_fst_extremes():
    p = np.array([0.5, 0.3, 0.2])
    assert fst(np.stack([p, p, p])) == pytest.approx(0.0, abs=1e-15)
    assert fst(np.stack([p * 10, p * 3])) == pytest.approx(0.0, abs=1e-15)  # counts: only frequencies matter
    assert fst(np.eye(4)) == pytest.approx(1.0)
    assert fst(np.array([[7, 0], [0, 3]]), weights=np.array([1, 3])) == pytest.approx(1.0)
    assert fst(np.array([[1.0, 0.0], [1.0, 0.0]])) == 0.0  # all fixed on the same type: H_T = 0


def test_fst_grows_as_replicate_lineages_drift_apart():
    rng = np.random.default_rng(0)
    k, n, lineages = 10, 30, 40
    p = np.full((lineages, k), 1 / k)
    values = [fst(p)]
    for _ in range(60):
        p = rng.multinomial(n, p) / n
        values.append(fst(p))
    assert values[0] == pytest.approx(0, abs=1e-12)
    # E[F_ST] follows the inbreeding coefficient 1 - (1 - 1/N)^t (lineages from one ancestor)
    t = np.array([10, 30, 60])
    np.testing.assert_allclose(np.array(values)[t], 1 - (1 - 1 / n) ** t, atol=0.12)
    assert values[60] > values[10]


def test_effective_size_interval_covers_n_and_excludes_a_wrong_one():
    """Seeded Wright-Fisher lineages (N = 200, K = 100, 50 generations): the pooled 99% interval holds N
    and not N/1.25 or 1.25 N; single lineages' intervals hold N about 99% of the time."""
    from redqueen.metrics import effective_size_interval

    rng = np.random.default_rng(7)
    n = 200
    pi = np.arange(1, 101, dtype=float) ** -1.1
    h = wright_fisher(pi / pi.sum(), n, generations=50, replicates=400, rng=rng)
    pooled = effective_size_interval(h)
    assert pooled.low <= n <= pooled.high and pooled.increments == 400 * 50
    assert not pooled.low <= n / 1.25 <= pooled.high and not pooled.low <= 1.25 * n <= pooled.high
    singles = [effective_size_interval(row) for row in h]
    assert 0.96 <= np.mean([e.low <= n <= e.high for e in singles]) <= 1.0
    # no decay: an interval reaching infinity; too little data: not estimable, with a reason
    flat = effective_size_interval(np.array([0.5, 0.51, 0.49, 0.5, 0.52]))
    assert flat.high == math.inf and flat.estimable
    short = effective_size_interval(np.array([0.5, 0.4]))
    assert not short.estimable and "fewer than 3" in short.reason
