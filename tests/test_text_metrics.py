"""Text diagnostics against naive references (no torch needed)."""

import math
from collections import Counter

import numpy as np
import pytest

from redqueen.data import Sequences, Vocabulary
from redqueen.metrics.text import (
    distinct, distinct_n, perplexity, sample_perplexities, self_bleu, self_bleu_scores, vendi_eigenvalues,
    vendi_score,
)


def random_seqs(rng, n=30, vocab=6, lo=0, hi=12):
    return [rng.integers(0, vocab, rng.integers(lo, hi)) for _ in range(n)]


def naive_ngrams(s, n):
    return [tuple(s[i : i + n]) for i in range(len(s) - n + 1)]


def naive_distinct(seqs, n):
    grams = [g for s in seqs for g in naive_ngrams(list(s), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def naive_bleu(hyp, refs, max_n=4, eps=0.1):
    """NLTK sentence_bleu with SmoothingFunction(epsilon=eps).method1, written out."""
    hyp = list(hyp)
    p = []
    for n in range(1, max_n + 1):
        counts = Counter(naive_ngrams(hyp, n))
        max_ref = Counter()
        for r in refs:
            for g, c in Counter(naive_ngrams(list(r), n)).items():
                max_ref[g] = max(max_ref[g], c)
        num = sum(min(c, max_ref[g]) for g, c in counts.items())
        den = max(1, sum(counts.values()))
        p.append((num, den))
    if p[0][0] == 0:
        return 0.0
    c = len(hyp)
    r = min((len(x) for x in refs), key=lambda L: (abs(L - c), L))
    bp = 1.0 if c > r else (0.0 if c == 0 else math.exp(1 - r / c))
    return bp * math.exp(sum(math.log(num / den if num else eps / den) for num, den in p) / max_n)


def test_distinct_matches_naive():
    rng = np.random.default_rng(0)
    seqs = random_seqs(rng)
    data = Sequences.from_list(seqs, Vocabulary(tuple("abcdef")))
    for n in (1, 2, 3, 4):
        assert distinct_n(data, n) == pytest.approx(naive_distinct(seqs, n))
        assert distinct_n(seqs, n) == pytest.approx(naive_distinct(seqs, n))
    assert set(distinct(data)) == {"distinct_1", "distinct_2", "distinct_3", "distinct_4"}


def test_distinct_large_vocab_fallback():
    rng = np.random.default_rng(1)
    seqs = [rng.integers(0, 2**30, 8) for _ in range(5)] + [np.array([7, 7, 7, 7, 7])]
    for n in (1, 3, 4):
        assert distinct_n(seqs, n) == pytest.approx(naive_distinct(seqs, n))


def test_distinct_extremes():
    assert distinct_n([np.zeros(10, int)], 2) == pytest.approx(1 / 9)
    assert distinct_n([np.arange(10)], 3) == 1.0
    assert distinct_n([np.arange(2)], 4) == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_self_bleu_matches_naive(seed):
    rng = np.random.default_rng(seed)
    seqs = random_seqs(rng, n=25, vocab=4, lo=1, hi=10)
    fast = self_bleu_scores(seqs)
    slow = [naive_bleu(seqs[i], seqs[:i] + seqs[i + 1 :]) for i in range(len(seqs))]
    np.testing.assert_allclose(fast, slow, rtol=1e-10, atol=1e-12)


def test_self_bleu_subset_and_identical():
    same = [np.arange(6)] * 5
    assert self_bleu(same) == pytest.approx(1.0)
    rng = np.random.default_rng(3)
    seqs = random_seqs(rng, n=50, lo=3)
    a = self_bleu(seqs, np.random.default_rng(5), sample_size=20)
    b = self_bleu(seqs, np.random.default_rng(5), sample_size=20)
    assert a == b and 0.0 <= a <= 1.0
    with pytest.raises(ValueError):
        self_bleu(seqs, None, sample_size=20)


def naive_vendi(x, q=1.0):
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    w = np.linalg.eigvalsh(x @ x.T / x.shape[0])
    w = w[w > 1e-12]
    if q == 1:
        return float(np.exp(-(w * np.log(w)).sum()))
    return float(np.exp(np.log((w**q).sum()) / (1 - q)))


@pytest.mark.parametrize("shape", [(50, 8), (8, 50), (20, 20)])
@pytest.mark.parametrize("q", [1.0, 2.0, 0.5])
def test_vendi_dual_equals_primal(shape, q):
    x = np.random.default_rng(0).normal(size=shape)
    assert vendi_score(x, q=q) == pytest.approx(naive_vendi(x, q), rel=1e-8)


def test_vendi_known_values():
    assert vendi_score(np.ones((10, 3))) == pytest.approx(1.0)
    assert vendi_score(np.eye(5)) == pytest.approx(5.0)
    assert vendi_score(np.repeat(np.eye(4), 3, axis=0)) == pytest.approx(4.0)
    assert vendi_eigenvalues(np.eye(5)).sum() == pytest.approx(1.0)


def test_perplexities():
    lp = np.log(np.array([0.5, 0.25])) * np.array([2, 4])
    assert perplexity(lp, np.array([2, 4])) == pytest.approx(math.exp(-(lp.sum()) / 6))
    assert perplexity(np.log([0.1, 0.1]), [1, 1]) == pytest.approx(10.0)
    out = sample_perplexities(np.log([0.1]), np.log([0.5]), np.array([1]))
    assert out == pytest.approx({"ppl_gen0": 10.0, "ppl_self": 2.0})


def test_embed_passes_texts_to_the_model():
    from redqueen.metrics.text import embed

    class Fake:
        def encode(self, texts, **kw):
            assert kw["normalize_embeddings"] and isinstance(texts, list)
            return np.ones((len(texts), 384), np.float64) / np.sqrt(384)

    out = embed(("a b", "c"), model=Fake())
    assert out.shape == (2, 384) and out.dtype == np.float32


def test_text_metrics_bundle():
    from redqueen.metrics.text import text_metrics

    rng = np.random.default_rng(0)
    data = Sequences.from_list(random_seqs(rng, n=40, lo=2), Vocabulary(tuple("abcdef")))
    out = text_metrics(data, np.random.default_rng(1), self_bleu_sample=10)
    assert set(out) == {"distinct_1", "distinct_2", "distinct_3", "distinct_4", "self_bleu"}
    assert out["distinct_2"] == pytest.approx(distinct_n(data, 2))
