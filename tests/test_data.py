import numpy as np
import pytest

from redqueen.data import Counts, Points, Sequences, Vocabulary, mean_log_prob
from redqueen.models.decoding import decode_probs


def test_counts_take_is_a_subset(rng):
    c = Counts(np.array([5, 0, 3, 10]))
    t = c.take(7, rng)
    assert len(t) == 7 and np.all(t.counts <= c.counts)
    assert c.take(100, rng) is c
    assert len(c.concat(c)) == 36


def test_sequences_subset_and_concat(rng):
    v = Vocabulary(("a", "b", "c"))
    s = Sequences.from_list([[0, 1], [2], [1, 1, 1]], v)
    assert len(s) == 3 and s.decode(0) == "a b"
    sub = s.subset(np.array([2, 0]))
    assert [list(sub[i]) for i in range(2)] == [[1, 1, 1], [0, 1]]
    both = s.concat(sub)
    assert len(both) == 5 and list(both[4]) == [0, 1]
    assert list(s.token_counts()) == [1, 4, 1]
    t = s.take(2, rng)
    assert len(t) == 2


def test_points_roundtrip(rng):
    p = Points(rng.normal(size=(10, 2)))
    assert len(p.take(4, rng)) == 4 and p.concat(p).x.shape == (20, 2)


def test_mean_log_prob_weights_counts():
    c = Counts(np.array([1, 3]))
    assert mean_log_prob(np.log([0.5, 0.25]), c) == pytest.approx((np.log(0.5) + 3 * np.log(0.25)) / 4)


def _naive_decode(p, temperature, top_k, top_p):
    q = np.array(p, float) ** (1 / temperature)
    q /= q.sum()
    order = sorted(range(len(q)), key=lambda i: -q[i])
    keep = set(order[:top_k] if top_k else order)
    if top_p < 1:
        mass, nucleus = 0.0, set()
        for i in order:
            if i not in keep:
                continue
            nucleus.add(i)
            mass += q[i] / sum(q[j] for j in keep)
            if mass >= top_p:
                break
        keep = nucleus
    out = np.array([q[i] if i in keep else 0 for i in range(len(q))])
    return out / out.sum()


@pytest.mark.parametrize("temperature,top_k,top_p", [(1, 0, 1), (0.5, 0, 1), (2, 3, 1), (1, 0, 0.6), (0.8, 4, 0.7)])
def test_decode_matches_naive(rng, temperature, top_k, top_p):
    for _ in range(5):
        p = rng.dirichlet(np.ones(8))
        np.testing.assert_allclose(decode_probs(p, temperature=temperature, top_k=top_k, top_p=top_p),
                                   _naive_decode(p, temperature, top_k, top_p), atol=1e-12)


@pytest.mark.parametrize("seed", range(300))
def test_multinomial_on_the_support_is_numpys_draw_bit_for_bit(seed):
    """``data.multinomial`` draws only over the types with mass; the counts and the generator's state after must be
    those of ``rng.multinomial`` on the full vector (sparse, full, last type empty or not, tiny and huge n)."""
    from redqueen.data import multinomial

    r = np.random.default_rng(10_000 + seed)
    k = int(r.integers(1, 400))
    p = r.random(k) * (r.random(k) < r.choice([0.01, 0.1, 0.5, 1.0]))
    if seed % 3 == 0:
        p[-1] = 0.0
    if seed % 5 == 0:
        p[: k // 2] = 0.0
    if p.sum() == 0:
        p[int(r.integers(k))] = 1.0
    p = p / p.sum()
    n = int(r.integers(0, 10 ** int(r.integers(0, 8)) + 1))
    a, b = np.random.default_rng(seed), np.random.default_rng(seed)
    expected, got = a.multinomial(n, p), multinomial(n, p, b)
    assert got.dtype == expected.dtype and np.array_equal(got, expected)
    assert a.bit_generator.state == b.bit_generator.state


def test_multinomial_on_the_support_rejects_what_numpy_rejects():
    from redqueen.data import multinomial

    for bad in ([0.0, np.nan, 0.0, 1.0], [0.0, -0.5, 0.0, 1.5], [0.0, 0.9, 0.0, 0.9, 0.0]):
        with pytest.raises(ValueError):
            np.random.default_rng(0).multinomial(10, np.array(bad))
        with pytest.raises(ValueError):
            multinomial(10, np.array(bad), np.random.default_rng(0))
