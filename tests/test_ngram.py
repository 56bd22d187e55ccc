"""The n-gram family against a naive dict-of-counts reference, its sampler against its own probabilities."""

from collections import Counter

import numpy as np
import pytest
from scipy.stats import chisquare

from redqueen.data import Sequences, Vocabulary
from redqueen.models.decoding import decode_probs
from redqueen.models.ngram import NGramFamily

VOCAB = Vocabulary(tuple("abcdef"), joiner="")


def toy_corpus(n: int = 300, seed: int = 0) -> Sequences:
    """Short sequences over 6 tokens with a strong bigram structure and a never-used token 'f'."""
    rng = np.random.default_rng(seed)
    seqs = []
    for _ in range(n):
        length = int(rng.integers(0, 7))
        s = [int(rng.integers(0, 3))]
        for _ in range(length):
            s.append((s[-1] + int(rng.choice([1, 2], p=[0.8, 0.2]))) % 5)
        seqs.append(s)
    seqs.append([])  # an empty sequence: only the end symbol
    return Sequences.from_list(seqs, VOCAB)


def naive_probs(data: Sequences, order: int, alpha: float, context: list[int]) -> np.ndarray:
    """P(next | last order-1 symbols of context) by counting with dicts; index V is the end symbol."""
    v = len(data.vocab)
    bos = v
    counts: Counter = Counter()
    totals: Counter = Counter()
    for i in range(len(data)):
        seq = [bos] * (order - 1) + [int(t) for t in data[i]] + [bos]
        for j in range(order - 1, len(seq)):
            h = tuple(seq[j - order + 1 : j])
            counts[h, seq[j]] += 1
            totals[h] += 1
    h = tuple(([bos] * (order - 1) + list(context))[len(context) :]) if order > 1 else ()
    if totals[h] == 0:
        return np.full(v + 1, 1.0 / (v + 1))
    return np.array([(counts[h, w] + alpha) / (totals[h] + alpha * (v + 1)) for w in range(v + 1)])


def naive_log_prob(data: Sequences, seq: list[int], order: int, alpha: float) -> float:
    v = len(data.vocab)
    total = 0.0
    for j in range(len(seq) + 1):
        nxt = seq[j] if j < len(seq) else v
        total += np.log(naive_probs(data, order, alpha, seq[:j])[nxt])
    return total


CONTEXTS = [[], [0], [1], [2, 3], [4, 0], [5], [5, 5], [3, 4, 0]]


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("alpha", [0.0, 0.1, 1.0])
def test_probs_match_naive_counts_and_sum_to_one(order, alpha):
    data = toy_corpus()
    model = NGramFamily(order=order, alpha=alpha).fit(data)
    for ctx in CONTEXTS:
        p = model.probs(ctx)
        assert p.shape == (7,) and np.isclose(p.sum(), 1.0)
        assert np.allclose(p, naive_probs(data, order, alpha, ctx)), ctx


@pytest.mark.parametrize("order", [1, 2, 3])
def test_log_prob_matches_naive(order):
    data = toy_corpus()
    model = NGramFamily(order=order, alpha=0.5).fit(data)
    probe = Sequences.from_list([[0, 1, 2], [], [5, 5, 0], [4, 3, 2, 1, 0]], VOCAB)
    lp = model.log_prob(probe)
    assert lp.shape == (4,) and np.all(np.isfinite(lp))
    expected = [naive_log_prob(data, [int(t) for t in probe[i]], order, 0.5) for i in range(4)]
    assert np.allclose(lp, expected)


DECODINGS = [
    dict(temperature=0.5),
    dict(temperature=2.0),
    dict(top_k=2),
    dict(top_k=5),  # more than a row's seen outcomes: keeps the first unseen ones too
    dict(top_p=0.7),
    dict(top_p=0.97),
    dict(temperature=0.8, top_k=4, top_p=0.9),
]


@pytest.mark.parametrize("bias", DECODINGS)
@pytest.mark.parametrize("order", [1, 2])
def test_decoding_matches_decode_probs(bias, order):
    data = toy_corpus()
    model = NGramFamily(order=order, alpha=0.3, **bias).fit(data)
    probe_seqs = []
    for ctx in CONTEXTS:
        want = decode_probs(naive_probs(data, order, 0.3, ctx), **bias)
        got = model.probs(ctx)
        assert np.allclose(got, want, atol=1e-12), (ctx, got, want)
        probe_seqs.append(ctx)
    # log_prob scores with the biased distribution: -inf exactly where it gives zero
    lp = model.log_prob(Sequences.from_list(probe_seqs, VOCAB))
    for ctx, value in zip(probe_seqs, lp):
        parts = [model.probs(ctx[:j])[ctx[j] if j < len(ctx) else 6] for j in range(len(ctx) + 1)]
        with np.errstate(divide="ignore"):
            assert np.isclose(value, np.sum(np.log(parts))) or (value == -np.inf and min(parts) == 0)


LOGIT_BIAS = np.array([1.5, -2.0, 0.0, 0.7, -0.5, 3.0, 0.4])  # a, ..., f (never seen), end


@pytest.mark.parametrize("bias", [dict(), dict(temperature=0.7, top_k=5), dict(top_p=0.95),
                                  dict(logit_bias=LOGIT_BIAS), dict(logit_bias=LOGIT_BIAS, temperature=0.6)])
def test_sampling_frequencies_match_probabilities(bias):
    data = toy_corpus()
    model = NGramFamily(order=2, alpha=0.5, max_len=12, **bias).fit(data)
    s = model.sample(20000, np.random.default_rng(0))
    first = np.where(s.lengths() > 0, s.tokens[np.minimum(s.offsets[:-1], len(s.tokens) - 1)], 6)
    pairs = Counter()
    for i in range(2000):  # transitions out of token 1, including the end symbol
        seq = list(s[i]) + [6]
        for a, b in zip(seq[:-1], seq[1:]):
            if a == 1:
                pairs[b] += 1
    for observed, p in [(np.bincount(first, minlength=7), model.probs([])),
                        (np.array([pairs[w] for w in range(7)]), model.probs([1]))]:
        support = p > 0
        assert observed[~support].sum() == 0
        expected = p[support] * observed.sum()
        assert chisquare(observed[support], expected).pvalue > 1e-3


@pytest.mark.parametrize("alpha", [0.3, 0.0])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
@pytest.mark.parametrize("order", [1, 2])
def test_logit_bias_is_added_to_the_log_probabilities_before_the_temperature(order, temperature, alpha):
    """P'(w | h) ∝ (P(w | h) e^{b_w})^{1/T}, in every context (seen, unseen, after the never-seen 'f'), the end
    symbol included; log_prob is the sum of those; a zero bias is the unbiased model."""
    data = toy_corpus()
    model = NGramFamily(order=order, alpha=alpha, temperature=temperature, logit_bias=LOGIT_BIAS).fit(data)
    for ctx in CONTEXTS + [[5], [4, 4]]:
        with np.errstate(divide="ignore"):
            logits = (np.log(naive_probs(data, order, alpha, ctx)) + LOGIT_BIAS) / temperature
        want = np.exp(logits - logits.max())
        want /= want.sum()
        assert np.allclose(model.probs(ctx), want, atol=1e-12), ctx
    seqs = [c for c in CONTEXTS if c]
    lp = model.log_prob(Sequences.from_list(seqs, VOCAB))
    for ctx, value in zip(seqs, lp):
        parts = [model.probs(ctx[:j])[ctx[j] if j < len(ctx) else 6] for j in range(len(ctx) + 1)]
        with np.errstate(divide="ignore"):
            assert np.isclose(value, np.sum(np.log(parts))) or (value == -np.inf and min(parts) == 0)
    zero = NGramFamily(order=order, alpha=alpha, temperature=temperature, logit_bias=np.zeros(7)).fit(data)
    plain = NGramFamily(order=order, alpha=alpha, temperature=temperature).fit(data)
    for ctx in CONTEXTS:
        assert np.allclose(zero.probs(ctx), plain.probs(ctx), atol=1e-14)


def test_logit_bias_unseen_draws_follow_the_bias_even_when_the_seen_outcomes_hold_its_mass():
    """A draw in a row's unseen part takes outcome w with probability ∝ e^{b_w / T} among the outcomes the row has
    not seen -- by rejection, and densely for rows where rejection keeps failing (here: the bias puts almost all
    of its mass on the seen outcomes, so 32 rejections in a row are the rule)."""
    data = toy_corpus()
    heavy = np.array([30.0, 30.0, 30.0, 30.0, 30.0, 0.0, 1.0])  # after 'a' only 'b', 'c' and end are seen
    for bias in (LOGIT_BIAS, heavy):
        model = NGramFamily(order=2, alpha=0.5, logit_bias=bias).fit(data)
        row = model.tables_[-1].rows(np.array([0]))  # context 'a'
        seen = set(model._picker.cols[model._picker.indptr[row[0]]:model._picker.indptr[row[0] + 1]].tolist())
        draws = model._biased_unseen(np.repeat(row, 4000), np.random.default_rng(2))
        unseen = np.array([w for w in range(7) if w not in seen])
        assert set(np.unique(draws)) <= set(unseen.tolist())
        p = model.probs([0])[unseen]
        assert chisquare(np.bincount(draws, minlength=7)[unseen], p / p.sum() * draws.size).pvalue > 1e-3


def test_logit_bias_refuses_what_it_cannot_be_exact_with():
    data = toy_corpus()
    for bad, needle in [(dict(logit_bias=np.zeros(6)), "7 finite floats"),
                        (dict(logit_bias=np.full(7, np.nan)), "7 finite floats"),
                        (dict(logit_bias=np.zeros(7), top_p=0.9), "without top_k, top_p"),
                        (dict(logit_bias=np.zeros(7), top_k=3), "without top_k, top_p"),
                        (dict(logit_bias=np.zeros(7), smoothing="kneser_ney"), "without top_k, top_p"),
                        (dict(logit_bias=np.zeros(7), watermark={"gamma": 0.5, "delta": 2.0}), "watermark")]:
        with pytest.raises(ValueError, match=needle):
            NGramFamily(order=2, **bad).fit(data)
    # a merged child keeps its template's bias
    a, b = (NGramFamily(order=2, alpha=0.3, logit_bias=LOGIT_BIAS).fit(toy_corpus(seed=s)) for s in (0, 1))
    g = a.genome_space([a, b])
    child = g.build(g.vectors[0])
    assert np.array_equal(child.logit_bias, LOGIT_BIAS) and np.allclose(child.probs([1]), a.probs([1]))


def test_unseen_outcomes_are_sampled_uniformly():
    # 'f' (5) and the token after it are never seen: every outcome of an unseen context is equally likely
    data = toy_corpus()
    model = NGramFamily(order=2, alpha=1.0, max_len=2).fit(data)
    s = model.sample(30000, np.random.default_rng(1))
    after_f = [int(s[i][1]) if len(s[i]) > 1 else 6 for i in range(len(s)) if len(s[i]) and s[i][0] == 5]
    observed = np.bincount(after_f, minlength=7)
    expected = model.probs([5]) * observed.sum()
    assert np.allclose(model.probs([5]), 1 / 7)
    assert chisquare(observed, expected).pvalue > 1e-3


def test_sample_contract_and_determinism():
    data = toy_corpus()
    model = NGramFamily(order=3, alpha=0.1, max_len=5).fit(data)
    a = model.sample(500, np.random.default_rng(3))
    b = model.sample(500, np.random.default_rng(3))
    c = model.sample(500, np.random.default_rng(4))
    assert isinstance(a, Sequences) and len(a) == 500 and a.vocab == VOCAB
    assert a.lengths().max() <= 5 and a.tokens.max() < 6 and a.tokens.min() >= 0
    assert np.array_equal(a.tokens, b.tokens) and np.array_equal(a.offsets, b.offsets)
    assert not (np.array_equal(a.tokens, c.tokens) and np.array_equal(a.offsets, c.offsets))
    assert model.log_prob(a).shape == (500,)
    assert model.sample(0, np.random.default_rng(0)).tokens.size == 0


def test_alpha_zero_reproduces_the_corpus_support():
    data = toy_corpus()
    model = NGramFamily(order=2, alpha=0.0).fit(data)
    s = model.sample(2000, np.random.default_rng(0))
    assert np.all(np.isfinite(model.log_prob(s)))
    assert 5 not in s.tokens  # 'f' never occurs in training
    assert model.log_prob(Sequences.from_list([[5]], VOCAB))[0] == -np.inf


def test_state_round_trip_is_numpy_only():
    data = toy_corpus()
    model = NGramFamily(order=2, alpha=0.2, top_k=4).fit(data)
    state = model.state()
    assert all(isinstance(v, np.ndarray) and v.dtype != object for v in state.values())
    clone = NGramFamily(order=2, alpha=0.2, top_k=4).load_state({k: v.copy() for k, v in state.items()})
    assert clone.vocab_ == model.vocab_
    for ctx in CONTEXTS:
        assert np.array_equal(clone.probs(ctx), model.probs(ctx))
    a = model.sample(100, np.random.default_rng(9))
    b = clone.sample(100, np.random.default_rng(9))
    assert np.array_equal(a.tokens, b.tokens)
    # a damaged state (a checkpoint edited or corrupted) is refused, not sampled with NaN probabilities
    for key, change in (("order2_counts", lambda v: -v), ("order2_counts", lambda v: v * np.nan),
                        ("order2_indptr", lambda v: v[::-1].copy()), ("order2_cols", lambda v: v[:-1])):
        bad = {k: v.copy() for k, v in state.items()}
        bad[key] = change(bad[key].astype(np.float64) if "counts" in key else bad[key])
        with pytest.raises(ValueError, match="order2_"):
            NGramFamily(order=2, alpha=0.2, top_k=4).load_state(bad)


def test_bad_order():
    with pytest.raises(ValueError, match="order"):
        NGramFamily(order=0).fit(toy_corpus())
    with pytest.raises(ValueError, match="overflows"):
        NGramFamily(order=40).fit(toy_corpus())


def naive_kneser_ney(data: Sequences, order: int, d: float, context: list[int]) -> np.ndarray:
    """Interpolated Kneser-Ney by dicts: counts at the top order, distinct left extensions below, uniform at 0."""
    v = len(data.vocab)
    bos = v
    tables = {order: Counter()}
    for i in range(len(data)):
        seq = [bos] * (order - 1) + [int(t) for t in data[i]] + [bos]
        for j in range(order - 1, len(seq)):
            tables[order][tuple(seq[j - order + 1 : j]), seq[j]] += 1
    for k in range(order - 1, 0, -1):
        tables[k] = Counter((h[1:], w) for (h, w) in tables[k + 1])

    def p(k: int, h: tuple, w: int) -> float:
        if k == 0:
            return 1.0 / (v + 1)
        row = {x: c for (hh, x), c in tables[k].items() if hh == h}
        total = sum(row.values())
        if total == 0:
            return p(k - 1, h[1:], w)
        return max(row.get(w, 0) - d, 0) / total + d * len(row) / total * p(k - 1, h[1:], w)

    h = tuple(([bos] * (order - 1) + list(context))[len(context) :]) if order > 1 else ()
    return np.array([p(order, h, w) for w in range(v + 1)])


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("discount", [0.5, 1.0])
def test_kneser_ney_matches_naive_and_sums_to_one(order, discount):
    data = toy_corpus()
    model = NGramFamily(order=order, smoothing="kneser_ney", discount=discount).fit(data)
    for ctx in CONTEXTS:
        p = model.probs(ctx)
        assert np.isclose(p.sum(), 1.0) and np.all(p > 0)
        assert np.allclose(p, naive_kneser_ney(data, order, discount, ctx)), ctx
    probe = Sequences.from_list([[0, 1, 2], [], [5, 5, 0]], VOCAB)
    expected = [sum(np.log(naive_kneser_ney(data, order, discount, list(map(int, probe[i][:j])))[
        int(probe[i][j]) if j < len(probe[i]) else 6]) for j in range(len(probe[i]) + 1)) for i in range(3)]
    assert np.allclose(model.log_prob(probe), expected)


@pytest.mark.parametrize("order", [2, 3])
def test_kneser_ney_sampling_frequencies(order):
    data = toy_corpus()
    model = NGramFamily(order=order, smoothing="kneser_ney", discount=0.9, max_len=12).fit(data)
    s = model.sample(20000, np.random.default_rng(2))
    first = np.where(s.lengths() > 0, s.tokens[np.minimum(s.offsets[:-1], len(s.tokens) - 1)], 6)
    observed = np.bincount(first, minlength=7)
    assert chisquare(observed, model.probs([]) * observed.sum()).pvalue > 1e-3
    second = [int(s[i][1]) if len(s[i]) > 1 else 6 for i in range(len(s)) if len(s[i]) and s[i][0] == 2]
    observed = np.bincount(second, minlength=7)
    assert chisquare(observed, model.probs([2]) * observed.sum()).pvalue > 1e-3


def test_kneser_ney_state_round_trip_and_refuses_bias():
    data = toy_corpus()
    model = NGramFamily(order=3, smoothing="kneser_ney").fit(data)
    state = model.state()
    assert {"order1_keys", "order2_keys", "order3_keys"} <= set(state)
    clone = NGramFamily(order=3, smoothing="kneser_ney").load_state(state)
    assert np.array_equal(clone.log_prob(data), model.log_prob(data))
    assert np.array_equal(clone.sample(50, np.random.default_rng(0)).tokens,
                          model.sample(50, np.random.default_rng(0)).tokens)
    with pytest.raises(ValueError, match="smoothing='additive'"):
        NGramFamily(smoothing="kneser_ney", temperature=0.5).fit(data)
    with pytest.raises(ValueError, match="discount"):
        NGramFamily(smoothing="kneser_ney", discount=0).fit(data)
    with pytest.raises(ValueError, match="unknown n-gram smoothing"):
        NGramFamily(smoothing="witten_bell").fit(data)


@pytest.fixture(scope="module")
def kjv():
    from redqueen.worlds.text import TextWorld

    return TextWorld()


def test_kjv_bigram_is_reasonable(kjv):
    rng = np.random.default_rng(0)
    model = NGramFamily(order=2, alpha=0.001).fit(kjv.sample(3000, rng), rng)
    held = kjv.heldout(300, rng)
    lp = model.log_prob(held)
    ppl = np.exp(-lp.sum() / (held.lengths().sum() + len(held)))
    assert np.all(np.isfinite(lp)) and 20 < ppl < 1000
    s = model.sample(300, rng)
    assert 10 < s.lengths().mean() < 80
    for ctx in ([], [kjv.vocab.tokens.index("the")], [kjv.vocab.tokens.index("lord")]):
        assert np.isclose(model.probs(ctx).sum(), 1.0)


@pytest.mark.parametrize("smoothing", ["additive", "kneser_ney"])
def test_lineage_end_to_end(kjv, smoothing):
    from redqueen.loop import Lineage, make_regime

    lineage = Lineage(world=kjv, make_family=lambda: NGramFamily(order=2, smoothing=smoothing),
                      regime=make_regime("replace"), n=1000, seed=5)
    records = [lineage.step(texts=True) for _ in range(3)]
    assert [r.generation for r in records] == [0, 1, 2]
    for r in records:
        for key in ("heterozygosity", "types_lost", "ppl_real"):
            assert key in r.metrics and np.isfinite(r.metrics[key])
        assert r.samples and isinstance(r.samples[0], str)
    # types lost: generation-0 tokens absent from what generation 2 sampled, recounted by hand
    present = lineage.diagnostics.profile.reference_present
    assert records[0].metrics["types_lost"] == 0
    assert records[2].metrics["types_lost"] == np.sum(present & (kjv.types(lineage.pending) == 0))
    if smoothing == "kneser_ney":  # no add-alpha floor: a thousand verses of a bigram model lose many words
        assert records[2].metrics["types_lost"] > 500
    # every sample's own perplexity under generation 0 travels with the record; its percentiles are the metrics
    for r in records:
        per_seq = r.distribution("ppl_gen0")
        assert per_seq.dtype == np.float32 and len(per_seq) == 1000 and np.all(per_seq > 1)
        assert np.percentile(per_seq, 90) == pytest.approx(r.metrics["ppl_gen0_p90"], rel=1e-6)
