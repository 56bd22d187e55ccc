"""The green-list watermark against Hugging Face transformers and torch, its z-test under the null, and the
n-gram and categorical samplers against their exact watermarked probabilities."""

from collections import Counter

import numpy as np
import pytest
from scipy.stats import binomtest, chi2, chisquare

from redqueen.data import Counts, Sequences, Vocabulary
from redqueen.models import CategoricalFamily
from redqueen.models.ngram import NGramFamily
from redqueen.watermark import Watermark, detect, detect_counts, green_flags
from redqueen.watermark.scheme import GreenLists, mt19937_raw, randperm_prefix

from test_ngram import CONTEXTS, VOCAB, toy_corpus


def _vocab(v: int) -> Vocabulary:
    return Vocabulary(tuple(str(i) for i in range(v)))


def _random_seqs(rng, v: int, n: int, length: int, alphabet: int | None = None) -> Sequences:
    ids = rng.integers(0, alphabet or v, (n, length))
    return Sequences(ids.reshape(-1), np.arange(n + 1) * length, _vocab(v))


def test_mt19937_is_numpys_legacy_generator():
    seeds = np.array([0, 1, 5489, 2**32 - 1, 123456789], dtype=np.uint64)
    got = mt19937_raw(seeds, 1300)  # three twists
    for s, row in zip(seeds, got):
        want = np.random.RandomState(int(s)).randint(0, 2**32, size=1300, dtype=np.uint64)
        np.testing.assert_array_equal(row, want)


def test_randperm_prefix_is_torch_randperm():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 10, 61, 2049, 50257):
        seeds = rng.integers(0, 2**63, 12, dtype=np.int64).astype(np.uint64)
        k = max(1, n // 3)
        got = randperm_prefix(seeds, n, k)
        for s, row in zip(seeds, got):
            g = torch.Generator().manual_seed(int(s))
            np.testing.assert_array_equal(row, torch.randperm(n, generator=g).numpy()[:k])


def test_green_lists_are_hugging_faces():
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from transformers.generation.logits_process import WatermarkLogitsProcessor

    rng = np.random.default_rng(1)
    for v, gamma, key in ((61, 0.25, 15485863), (1000, 0.5, 7), (2049, 0.1, 2**40 + 3), (50257, 0.25, 15485863)):
        proc = WatermarkLogitsProcessor(v, "cpu", greenlist_ratio=gamma, bias=2.0, hashing_key=key)
        greens = GreenLists(key, gamma, v)
        prev = rng.integers(0, v, 40 if v < 50000 else 6)
        mask = greens.mask(prev)
        assert mask.sum(axis=1).tolist() == [int(v * gamma)] * prev.size
        for i, p in enumerate(prev):
            want = proc._get_greenlist_ids(torch.tensor([int(p)])).numpy()
            np.testing.assert_array_equal(np.flatnonzero(mask[i]), np.sort(want))
        tok = rng.integers(0, v + 3, prev.size)  # ids past the vocabulary are never green
        np.testing.assert_array_equal(greens.is_green(prev, tok), [t < v and m[t] for t, m in zip(tok, mask)])


def _hf_detector(v, gamma, key, ignore_repeated):
    transformers = pytest.importorskip("transformers")
    from transformers import WatermarkDetector, WatermarkingConfig

    cfg = transformers.GPT2Config(vocab_size=v, bos_token_id=v - 1, eos_token_id=v - 1)
    wc = WatermarkingConfig(greenlist_ratio=gamma, bias=2.0, hashing_key=key, seeding_scheme="lefthash", context_width=1)
    return WatermarkDetector(cfg, "cpu", wc, ignore_repeated_ngrams=ignore_repeated)


@pytest.mark.parametrize("ignore_repeated", [False, True])
@pytest.mark.parametrize("v, gamma, key, alphabet, n", [(1000, 0.25, 15485863, None, 40), (1000, 0.3, 99, 30, 40),
                                                        (50257, 0.25, 15485863, None, 2)])
def test_z_scores_equal_hugging_faces_on_200_token_sequences(ignore_repeated, v, gamma, key, alphabet, n):
    """Random ids (a small alphabet forces repeated bigrams); Hugging Face strips a leading BOS, so none here."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(v + n)
    seqs = _random_seqs(rng, v, n, 200, alphabet or v - 1)
    hf = _hf_detector(v, gamma, key, ignore_repeated)(torch.tensor(seqs.tokens.reshape(n, 200).astype(np.int64)),
                                                       return_dict=True)
    ours = detect(Watermark(gamma=gamma, delta=2.0, key=key, context=1), seqs, ignore_repeated=ignore_repeated)
    np.testing.assert_array_equal(ours.scored, hf.num_tokens_scored)
    np.testing.assert_array_equal(ours.green, hf.num_green_tokens)
    np.testing.assert_array_equal(ours.z, hf.z_score)
    np.testing.assert_allclose(ours.p_value, hf.p_value, rtol=1e-12)


def test_wider_contexts_hash_the_sum_as_the_original_repository():
    """context > 1: the original repository's additive_prf (seed = key * sum of the last h ids), written naively."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    v, gamma, key = 97, 0.4, 31337
    for h in (2, 3):
        wm = Watermark(gamma=gamma, key=key, context=h)
        seqs = Sequences.from_list([rng.integers(0, v, int(rng.integers(0, 12))) for _ in range(30)], _vocab(v))
        scored, green = green_flags(wm, seqs)
        want_scored, want_green = [], []
        for i in range(len(seqs)):
            s = [int(t) for t in seqs[i]]
            for t in range(len(s)):
                want_scored.append(t >= h)
                if t < h:
                    want_green.append(False)
                    continue
                g = torch.Generator().manual_seed((key * sum(s[t - h:t])) % (2**64 - 1))
                want_green.append(s[t] in torch.randperm(v, generator=g)[: int(v * gamma)].tolist())
        np.testing.assert_array_equal(scored, want_scored)
        np.testing.assert_array_equal(green, want_green)


def test_z_test_under_the_null_is_standard_normal():
    """Unwatermarked random text: mean z within 4 standard errors of 0 and the share above 1.645 a 5% binomial.

    Power: a green share of 0.26 instead of 0.25 (a watermark at delta ~ 0.05) moves the mean z by 0.33 = 15
    standard errors of the 2,000-sequence mean, and the share test rejects that at p < 1e-6.
    """
    rng = np.random.default_rng(11)
    d = detect(Watermark(key=5), _random_seqs(rng, 2000, 2000, 200))
    assert abs(d.z.mean()) < 4 / np.sqrt(2000)
    assert binomtest(int((d.z > 1.645).sum()), 2000, 0.05).pvalue > 1e-3
    assert 0.9 < d.z.var() < 1.1


def test_sequences_without_a_scored_token_have_no_evidence():
    seqs = Sequences.from_list([[], [3], [3, 4]], _vocab(10))
    d = detect(Watermark(), seqs)
    assert d.scored.tolist() == [0, 0, 1]
    assert d.z[:2].tolist() == [0.0, 0.0] and d.p_value[:2].tolist() == [0.5, 0.5]


def test_bad_parameters_are_refused():
    for bad in (dict(gamma=0), dict(gamma=1), dict(delta=-1), dict(delta=float("inf")), dict(key=-1), dict(key=2**64),
                dict(context=-1), dict(key=1.5)):
        with pytest.raises(ValueError, match="watermark"):
            Watermark(**bad)


# -- the n-gram sampler ---------------------------------------------------------------------------------------------
NGRAMS = [dict(order=2, alpha=0.3), dict(order=3, alpha=0.1), dict(order=1, alpha=0.2), dict(order=2, alpha=0.0),
          dict(order=2, alpha=0.3, top_k=4), dict(order=2, alpha=0.3, temperature=0.5, top_p=0.9),
          dict(order=2, smoothing="kneser_ney"), dict(order=3, smoothing="kneser_ney")]


def _supported(kw, h):
    order = kw["order"]
    return h <= 1 if kw.get("smoothing") == "kneser_ney" else not (1 <= order - 1 < h)


def _expected(base, wm, ctx):
    """Hugging Face's rule on the dense row: multiply green probabilities by e^delta, renormalise."""
    q = base.probs(ctx)
    if len(ctx) < wm.context:
        return q
    h = 1 if wm.context == 0 else sum(ctx[len(ctx) - wm.context:])
    green = np.append(wm.greens(len(VOCAB)).mask(np.array([h]))[0], False)
    w = q * np.exp(wm.delta * green)
    return w / w.sum()


@pytest.mark.parametrize("kw", NGRAMS, ids=lambda kw: "-".join(f"{k}{v}" for k, v in kw.items()))
@pytest.mark.parametrize("h", [0, 1, 2])
def test_ngram_watermarked_probabilities_are_the_reweighted_rows(kw, h):
    data = toy_corpus()
    wm = Watermark(gamma=0.5, delta=1.5, key=99, context=h)
    if not _supported(kw, h):
        with pytest.raises(ValueError, match="watermark context"):
            NGramFamily(**kw, watermark=wm).fit(data)
        return
    model = NGramFamily(**kw, watermark=wm).fit(data)
    base = NGramFamily(**kw).fit(data)
    probes = CONTEXTS + [[0, 1, 2, 3], [4, 4]]
    for ctx in probes:
        got = model.probs(ctx)
        assert np.isclose(got.sum(), 1.0)
        np.testing.assert_allclose(got, _expected(base, wm, ctx), atol=1e-14)
    lp = model.log_prob(Sequences.from_list(probes, VOCAB))
    for ctx, value in zip(probes, lp):
        parts = [model.probs(ctx[:j])[ctx[j] if j < len(ctx) else 6] for j in range(len(ctx) + 1)]
        with np.errstate(divide="ignore"):
            want = np.sum(np.log(parts))
        assert np.isclose(value, want) or value == want == -np.inf
    restored = NGramFamily(**kw, watermark=wm).load_state(model.state())
    np.testing.assert_array_equal(restored.log_prob(Sequences.from_list(probes, VOCAB)), lp)


@pytest.mark.parametrize("kw", [dict(order=2, alpha=0.3), dict(order=1, alpha=0.2), dict(order=2, alpha=0.3, top_k=4),
                                dict(order=2, smoothing="kneser_ney"), dict(order=3, smoothing="kneser_ney")],
                         ids=["additive", "unigram", "top_k", "kn2", "kn3"])
def test_ngram_watermarked_samples_follow_their_probabilities(kw):
    """Chi-square of the first two tokens of 30,000 samples against model.probs (all outcomes with mass).

    Power: at 30,000 samples the unwatermarked rows (a total-variation gap of ~0.1-0.2 from these) fail at
    p < 1e-30; the test also fails if the rejection steps drop a part of the mixture.
    """
    data = toy_corpus()
    model = NGramFamily(**kw, max_len=12, watermark=Watermark(gamma=0.5, delta=1.5, key=99)).fit(data)
    s = model.sample(30000, np.random.default_rng(0))
    lengths = s.lengths()
    first = np.where(lengths > 0, s.tokens[np.minimum(s.offsets[:-1], len(s.tokens) - 1)], 6)
    p0 = model.probs([])
    obs = np.bincount(first, minlength=7)
    keep = p0 > 0
    assert chisquare(obs[keep], p0[keep] * obs.sum()).pvalue > 1e-4
    # second symbol after first token 1 (the watermark is on here: context 1 has one token before it)
    after = first == 1
    second = np.where(lengths[after] > 1, s.tokens[np.minimum(s.offsets[:-1][after] + 1, len(s.tokens) - 1)], 6)
    p1 = model.probs([1])
    obs = np.bincount(second, minlength=7)
    keep = p1 > 0
    assert obs[~keep].sum() == 0
    assert chisquare(obs[keep], p1[keep] * obs.sum()).pvalue > 1e-4


def _zipf_corpus(v: int = 48, n: int = 400, seed: int = 1) -> Sequences:
    """Sequences over ``v`` tokens (Zipf-like unigrams, a bigram habit, the top 8 ids never used)."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, v - 7) ** 1.1
    p /= p.sum()
    seqs = []
    for _ in range(n):
        s = [int(rng.choice(v - 8, p=p))]
        for _ in range(int(rng.integers(0, 9))):
            s.append(int((s[-1] * 7 + 3) % (v - 8)) if rng.random() < 0.5 else int(rng.choice(v - 8, p=p)))
        seqs.append(s)
    return Sequences.from_list(seqs, _vocab(v))


def _tilted(base, wm, ctx, delta=None, key=None):
    """The exact watermarked row, densely: the plain row times e^delta on the green ids, renormalised."""
    q = base.probs(ctx)
    h = 1 if wm.context == 0 else sum(ctx[len(ctx) - wm.context:])
    green = np.append(Watermark(gamma=wm.gamma, key=wm.key if key is None else key).greens(q.size - 1)
                      .mask(np.array([h]))[0], False)
    w = q * np.exp((wm.delta if delta is None else delta) * green)
    return w / w.sum()


SAMPLERS = [dict(order=2, smoothing="kneser_ney"), dict(order=3, smoothing="kneser_ney"), dict(order=2, alpha=0.05),
            dict(order=3, alpha=0.05), dict(order=2, alpha=0.05, top_k=12), dict(order=1, alpha=0.05)]


@pytest.mark.parametrize("path", ["tables", "proposals", "descent", "parts", "ranks", "blocks"])
@pytest.mark.parametrize("kw", SAMPLERS, ids=lambda kw: "-".join(f"{k}{v}" for k, v in kw.items()))
def test_ngram_watermarked_draws_at_fixed_contexts_are_the_tilted_rows(kw, path, monkeypatch):
    """60,000 draws of the sampler itself at fixed contexts (seen, and never seen) against the dense tilted row.

    Power: the same draws against the rows tilted with delta 2.2 instead of 2, or with another key's green
    lists, fail at p < 1e-8 (the five contexts' statistics summed). ``proposals`` refuses every table
    (:data:`TABLE_BYTES` = 0): the fallback above the limit. Kneser-Ney only: ``descent``, the orders descended
    with per-row stay probabilities (what a bigram's one merged row per context replaces); ``parts``, per-position
    part weights (used where a seen row's suffix is not seen, as in some merged tables); ``blocks``, a bigram's
    merged rows over the tilted bottom row's 256-token blocks (where the dense green ids do not fit; ``tables``
    draws u1 given green from them, :class:`GreenChunks`). Additive only: ``ranks``, the green ids found from
    their counts (the dense ``ids[h, q]`` table refused, as above the limit).
    """
    from redqueen.watermark import green_tables

    capped = path == "proposals"
    if path in ("descent", "parts", "blocks") and kw.get("smoothing") != "kneser_ney":
        pytest.skip("the descent, the per-position parts and the blocks are Kneser-Ney's")
    if path == "blocks" and kw["order"] != 2:
        pytest.skip("the merged rows are a bigram's")
    if path == "ranks" and (kw.get("smoothing") == "kneser_ney" or kw["order"] == 1):
        pytest.skip("the green ids by rank are the row-fixed additive sampler's")
    if capped:
        monkeypatch.setattr(green_tables, "TABLE_BYTES", 0)
    if path == "ranks":  # room for the counts, not for the ids themselves
        monkeypatch.setattr(green_tables, "TABLE_BYTES", green_tables.GreenIds.nbytes(48, 48))
    data = _zipf_corpus()
    wm = Watermark(gamma=0.25, delta=2.0, key=7)
    model = NGramFamily(**kw, watermark=wm).fit(data)
    if kw.get("smoothing") != "kneser_ney" and kw["order"] > 1 and not capped:
        assert (model._wm.utable.ids is None) == (path == "ranks")
    if path in ("descent", "parts"):  # not the one merged picker row per context
        model._wm._flat = False
    if path == "parts":
        model._wm._stay = []
    if kw.get("smoothing") == "kneser_ney" and kw["order"] == 2 and path in ("tables", "blocks"):
        assert model._wm.chunks is not None  # the dense green ids fit here ...
        if path == "blocks":
            model._wm.chunks = None  # ... refused, as above the limit
    base = NGramFamily(**kw).fit(data)
    tables = [getattr(model._wm, name, None) for name in ("table", "utable")]
    assert any(t is not None for t in tables) != capped or kw["order"] == 1 or kw.get("top_k")
    n, v = 60000, 48
    rng = np.random.default_rng(3)
    wrong_stat, wrong_dof = np.zeros(2), 0
    for ctx in ([1, 0], [5, 3], [2, 10], [0, 45], [44, 46]):  # 45, 46: never used, so never-seen contexts
        order = kw["order"]
        hist = ([v] * (order - 1) + ctx)[len(ctx):] if order > 1 else []
        code = sum(s * (v + 1) ** k for k, s in enumerate(reversed(hist)))
        got = model._wm.next(np.full(n, code, np.int64), np.full(n, ctx[-1], np.int64), rng)
        obs = np.bincount(got, minlength=v + 1)
        want = _tilted(base, wm, ctx)
        np.testing.assert_allclose(model.probs(ctx), want, atol=1e-12)
        keep = want > 0
        assert obs[~keep].sum() == 0
        assert chisquare(obs[keep], want[keep] * n).pvalue > 1e-4, ctx
        for i, wrong in enumerate((_tilted(base, wm, ctx, delta=2.2), _tilted(base, wm, ctx, key=8))):
            ok = keep & (wrong > 0)
            wrong_stat[i] += chisquare(obs[ok], wrong[ok] / wrong[ok].sum() * obs[ok].sum()).statistic
        wrong_dof += int(keep.sum()) - 1
    assert (chi2.sf(wrong_stat, wrong_dof) < 1e-8).all(), wrong_stat  # all five contexts together


@pytest.mark.parametrize("kw", SAMPLERS[:3], ids=["kn2", "kn3", "additive"])
def test_ngram_watermarked_samples_repeat_with_the_seed_whatever_was_built_before(kw):
    """Same seed, same samples: twice on one model, and on a fresh model whose tables are not built yet."""
    data = _zipf_corpus()
    wm = Watermark(gamma=0.25, delta=2.0, key=7)
    a = NGramFamily(**kw, max_len=30, watermark=wm).fit(data)
    first = a.sample(2000, np.random.default_rng(11))
    np.testing.assert_array_equal(first.tokens, a.sample(2000, np.random.default_rng(11)).tokens)
    fresh = NGramFamily(**kw, max_len=30, watermark=wm).fit(data)
    np.testing.assert_array_equal(first.tokens, fresh.sample(2000, np.random.default_rng(11)).tokens)
    assert not np.array_equal(first.tokens, a.sample(2000, np.random.default_rng(12)).tokens)


@pytest.mark.parametrize("kw", [dict(order=2, alpha=0.05), dict(order=3, alpha=0.05), dict(order=3, alpha=0.0005)],
                         ids=["bigram", "trigram", "trigram-sparse"])
def test_ngram_watermarked_green_ids_dense_or_by_rank_give_the_same_samples(kw, monkeypatch):
    """The dense green-id table (``ids[h, q]``, one gather) is the rank walk's ``q``-th green id: same samples bit for
    bit, on models whose draws reach the green unseen part often (checked: thousands of draws there)."""
    from redqueen.watermark import green_tables

    cap = green_tables.TABLE_BYTES
    data = _zipf_corpus()
    wm = Watermark(gamma=0.25, delta=2.0, key=7)
    dense = NGramFamily(**kw, max_len=30, watermark=wm).fit(data)
    assert dense._wm.utable.ids is not None
    calls = []
    draw = green_tables.GreenIds.draw_rank
    monkeypatch.setattr(green_tables.GreenIds, "draw_rank",
                        lambda self, h, q, **kw: calls.append(h.size) or draw(self, h, q, **kw))
    a = dense.sample(3000, np.random.default_rng(4))
    monkeypatch.setattr(green_tables, "TABLE_BYTES", green_tables.GreenIds.nbytes(48, 48))
    ranks = NGramFamily(**kw, max_len=30, watermark=wm).fit(data)
    assert ranks._wm.utable.ids is None
    np.testing.assert_array_equal(a.offsets, ranks.sample(3000, np.random.default_rng(4)).offsets)
    np.testing.assert_array_equal(a.tokens, ranks.sample(3000, np.random.default_rng(4)).tokens)
    assert sum(calls) > 1000
    g = wm.greens(48)
    table = green_tables.GreenIds(g, 48, dense=True)
    h = np.repeat(np.arange(48), g.size)
    q = np.tile(np.arange(g.size), 48)
    np.testing.assert_array_equal(table.draw_rank(h, q), np.concatenate([g.ids(x) for x in range(48)]))
    assert green_tables.GreenIds.nbytes(10000, 10000, 0.25) <= cap  # the King James case fits


def test_green_tables_draw_the_green_restricted_weights():
    """GreenIds: the q-th green id, every q, several vocabularies. GreenTable: chi-square against the dense row
    restricted to green (power: against another hash input's list, p < 1e-8); memory stated and refused above."""
    from redqueen.watermark.green_tables import TABLE_BYTES, GreenChunks, GreenIds, GreenTable

    for v in (40, 300, 1000):
        g = Watermark(gamma=0.25, key=7).greens(v)
        ids = GreenIds(g, v)
        for h in (0, 3, v - 1):
            q = np.arange(g.size)
            np.testing.assert_array_equal(ids.draw(np.full(q.size, h), (q + 0.5) / g.size), g.ids(h))
    v = 600
    g = Watermark(gamma=0.25, key=7).greens(v)
    rng = np.random.default_rng(0)
    w = rng.random(v + 1) ** 4
    table = GreenTable(g, w, v)
    for h in (5, 599):
        got = table.draw(np.full(100000, h), rng.random(100000))
        green = g.mask(np.array([h]))[0]
        assert np.isclose(table.mass(np.array([h]))[0], w[:v][green].sum())
        want = np.where(green, w[:v], 0.0) / w[:v][green].sum()
        obs = np.bincount(got, minlength=v)
        assert obs[~green].sum() == 0
        assert chisquare(obs[green], want[green] * obs.sum()).pvalue > 1e-4
        other = np.where(g.mask(np.array([h + 1 if h < v - 1 else 0]))[0], w[:v], 0.0)
        mixed = 0.9 * want + 0.1 * other / other.sum()  # a tenth of the mass on another list
        assert chisquare(obs[green], mixed[green] / mixed[green].sum() * obs.sum()).pvalue < 1e-8
    tilted = GreenTable(g, w, v, extra=np.expm1(2.0))  # the whole row, green ids times e^2
    for h in (5, 599):
        got = tilted.draw(np.full(100000, h), rng.random(100000))
        want = w * np.exp(2.0 * np.append(g.mask(np.array([h]))[0], False))
        assert np.isclose(tilted.mass(np.array([h]))[0], want.sum())
        obs = np.bincount(got, minlength=v + 1)
        assert chisquare(obs, want / want.sum() * obs.sum()).pvalue > 1e-4
        wrong = w * np.exp(2.2 * np.append(g.mask(np.array([h]))[0], False))
        assert chisquare(obs, wrong / wrong.sum() * obs.sum()).pvalue < 1e-8
    chunks = GreenChunks(GreenIds(g, v, dense=True), w)  # the same, from the dense green ids in chunks of 64
    for h in (5, 599):
        got = chunks.draw(np.full(100000, h), rng.random(100000))
        green = g.mask(np.array([h]))[0]
        assert np.isclose(chunks.mass(np.array([h]))[0], w[:v][green].sum())
        want = np.where(green, w[:v], 0.0) / w[:v][green].sum()
        obs = np.bincount(got, minlength=v)
        assert obs[~green].sum() == 0 and obs.sum() == 100000
        assert chisquare(obs[green], want[green] * obs.sum()).pvalue > 1e-4
        wrong = want * np.where(np.arange(v) < v // 2, 1.1, 1.0)  # ids in the lower half 10% heavier
        assert chisquare(obs[green], wrong[green] / wrong[green].sum() * obs.sum()).pvalue < 1e-8
    with pytest.raises(ValueError, match="weights > 0"):
        GreenChunks(GreenIds(g, v, dense=True), np.where(np.arange(v + 1) == 3, 0.0, w))
    assert GreenTable.nbytes(10000, 10000) < 10 * 2**20 and GreenIds.nbytes(10000, 10000) < 4 * 2**20
    assert GreenChunks.nbytes(10000, 10000, 0.25) + 24 * 2 * 10001 < TABLE_BYTES  # the King James bigram's fit
    assert not GreenTable.fits(60000, 60000) and GreenTable.nbytes(60000, 60000) > TABLE_BYTES


def test_ngram_watermark_is_detected_and_deterministic():
    data = toy_corpus()
    wm = Watermark(gamma=0.5, delta=3.0, key=2024)
    model = NGramFamily(order=1, alpha=0.2, max_len=60, watermark=wm).fit(data)
    a, b = model.sample(200, np.random.default_rng(5)), model.sample(200, np.random.default_rng(5))
    np.testing.assert_array_equal(a.tokens, b.tokens)
    assert not np.array_equal(a.tokens, model.sample(200, np.random.default_rng(6)).tokens)
    plain = NGramFamily(order=1, alpha=0.2, max_len=60).fit(data).sample(200, np.random.default_rng(5))
    long_a, long_p = a.lengths() >= 20, plain.lengths() >= 20
    assert np.median(detect(wm, a).z[long_a]) > 3 and abs(np.median(detect(wm, plain).z[long_p])) < 1.5
    assert np.median(detect(Watermark(gamma=0.5, key=2025), a).z[long_a]) < 1.5  # another key sees nothing


# -- the categorical family -------------------------------------------------------------------------------------
def test_categorical_watermark_tilts_towards_one_fixed_list():
    counts = Counts(np.arange(1, 41))
    wm = Watermark(gamma=0.25, delta=1.0, key=3, context=0)
    model = CategoricalFamily(alpha=0.5, temperature=0.8, watermark=wm).fit(counts)
    base = CategoricalFamily(alpha=0.5, temperature=0.8).fit(counts)
    green = wm.greens(40).mask(np.ones(1, np.int64))[0]
    want = base.probs_ * np.exp(green * 1.0)
    np.testing.assert_allclose(model.type_probs(), want / want.sum())
    doc = model.sample(5000, np.random.default_rng(0))
    assert detect_counts(wm, doc).z[0] > 10 and abs(detect_counts(wm, base.sample(5000, np.random.default_rng(0))).z[0]) < 4
    with pytest.raises(ValueError, match="context = 0"):
        CategoricalFamily(watermark=Watermark()).fit(counts)


def test_config_validates_the_watermark_table():
    from redqueen.runtime import config as C

    def family(kind, **kw):
        world = "zipf" if kind == "categorical" else "text"
        return C.validate({"world": {"kind": world}, "family": {"kind": kind, **kw}, "arms": [{"name": "a"}]}).family

    assert family("ngram", watermark={"delta": 1.0}).watermark.delta == 1.0
    assert family("categorical", watermark={"context": 0}).watermark.context == 0
    for kind, wm, match in (("categorical", {}, "context must be 0"), ("ngram", {"gamma": 1.0}, "gamma"),
                            ("ngram", {"context": 2}, "exceeds"), ("ngram", {"colour": 1}, "unknown key")):
        with pytest.raises(C.ConfigError, match=match):
            family(kind, watermark=wm)
    with pytest.raises(C.ConfigError, match="kneser_ney"):
        family("ngram", smoothing="kneser_ney", watermark={"context": 2})
    counter = Counter(C.keys_reference().split())
    assert counter["`gamma`"] == 1 and counter["`watermark`"] == 3


# -- attacks and radioactivity ----------------------------------------------------------------------------------
def _bigram_corpus(seed=0, n=3000, v=200, k=40):
    """Sequences over v tokens from a random bigram chain (k successors per token, Zipf weights): text to learn."""
    rng = np.random.default_rng(seed)
    succ = rng.integers(0, v, (v, k))
    p = 1 / np.arange(1, k + 1)
    seqs = []
    for _ in range(n):
        s = [int(rng.integers(0, v))]
        for _ in range(int(rng.integers(10, 30))):
            s.append(int(succ[s[-1], rng.choice(k, p=p / p.sum())]))
        seqs.append(s)
    return Sequences.from_list(seqs, _vocab(v))


def test_substitution_changes_tokens_at_the_rate():
    from redqueen.watermark import substitute

    data = _bigram_corpus(n=400)
    assert substitute(data, 0.0, np.random.default_rng(0)).tokens.tolist() == data.tokens.tolist()
    assert np.all(substitute(data, 1.0, np.random.default_rng(0)).tokens != data.tokens)
    out = substitute(data, 0.2, np.random.default_rng(0))
    changed = int((out.tokens != data.tokens).sum())
    assert binomtest(changed, data.tokens.size, 0.2).pvalue > 1e-3
    np.testing.assert_array_equal(out.offsets, data.offsets)
    np.testing.assert_array_equal(out.tokens, substitute(data, 0.2, np.random.default_rng(0)).tokens)
    with pytest.raises(ValueError, match="rate"):
        substitute(data, 1.5, np.random.default_rng(0))


class _SumModel:
    """A paraphraser whose next token is the prefix's sum mod V: the reference result is easy to write down."""

    def __init__(self, v):
        self.v = v

    def next_tokens(self, prefixes, rng):
        return np.array([int(prefixes[i].sum()) % self.v for i in range(len(prefixes))])


def test_paraphrase_resamples_chosen_positions_left_to_right():
    from redqueen.watermark import paraphrase

    data = _bigram_corpus(n=50)
    out = paraphrase(data, 0.3, _SumModel(200), np.random.default_rng(4))
    chosen = np.random.default_rng(4).random(data.tokens.size) < 0.3  # the same first draw
    for i in range(len(data)):
        want = [int(t) for t in data[i]]
        for t, c in enumerate(chosen[data.offsets[i]:data.offsets[i + 1]]):
            if c:
                want[t] = sum(want[:t]) % 200
        assert out[i].tolist() == want
    assert paraphrase(data, 0.0, _SumModel(200), np.random.default_rng(4)).tokens.tolist() == data.tokens.tolist()


def test_attacks_pull_the_z_score_towards_the_null():
    """Median z of watermarked bigram samples falls with the attack rate (substitution and a paraphrasing n-gram)."""
    from redqueen.watermark import paraphrase, substitute

    data = _bigram_corpus()
    wm = Watermark(gamma=0.25, delta=2.0, key=1)
    samples = NGramFamily(order=2, alpha=0.01, max_len=40, watermark=wm).fit(data).sample(400, np.random.default_rng(1))
    other = NGramFamily(order=2, alpha=0.01).fit(_bigram_corpus(seed=0, n=1500))
    for attack, make in (("substitute", lambda r: substitute(samples, r, np.random.default_rng(2))),
                         ("paraphrase", lambda r: paraphrase(samples, r, other, np.random.default_rng(2)))):
        z = [np.median(detect(wm, make(r)).z) for r in (0.0, 0.25, 0.5, 0.9)]
        assert z[0] > 3 and all(a > b for a, b in zip(z, z[1:])) and abs(z[-1]) < 1.5, (attack, z)


def test_radioactivity_sees_training_on_watermarked_text():
    """A student trained on 50% watermarked text shows the green bias (p < 1e-6); one trained on clean text, or
    read under another key, does not (p > 1e-3). The green share is ~0.34 against 0.25 here: 13 standard errors."""
    from redqueen.watermark import radioactivity

    data = _bigram_corpus(seed=1)
    wm = Watermark(gamma=0.25, delta=2.0, key=8)
    teacher = NGramFamily(order=2, alpha=0.01, max_len=30, watermark=wm).fit(data)
    marked = data.take(1500, np.random.default_rng(0)).concat(teacher.sample(1500, np.random.default_rng(1)))
    student = NGramFamily(order=2, alpha=0.01, max_len=30).fit(marked).sample(800, np.random.default_rng(2))
    clean = NGramFamily(order=2, alpha=0.01, max_len=30).fit(data).sample(800, np.random.default_rng(2))
    hot = radioactivity(wm, student)
    assert hot.p_value < 1e-6 and hot.green_share > 0.28
    assert radioactivity(wm, clean).p_value > 1e-3
    assert radioactivity(Watermark(gamma=0.25, key=9), student).p_value > 1e-3
    fewer = radioactivity(wm, student, exclude=student.take(400, np.random.default_rng(3)))
    assert fewer.scored < hot.scored
    assert radioactivity(wm, Sequences.from_list([[1]], _vocab(200))).p_value == 1.0
