"""Contract, determinism and decoding tests of the transformer language-model family (tiny sizes)."""

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from redqueen.data import Sequences, Vocabulary  # noqa: E402
from redqueen.models.decoding import decode_probs  # noqa: E402
from redqueen.models.neural import TransformerLMFamily  # noqa: E402
from redqueen.models.neural.generate import apply_repetition_penalty, filter_logits, generate, sample_rows  # noqa: E402

torch.set_num_threads(1)
VOCAB = Vocabulary(tuple("abcdefg"), "")
TINY = dict(d_model=16, n_layers=2, n_heads=2, context=32, steps=8, batch_size=8, prompt_len=3, max_new_tokens=5)


def corpus(seed=0, n=40):
    rng = np.random.default_rng(seed)
    return Sequences.from_list([rng.integers(0, len(VOCAB), rng.integers(2, 20)) for _ in range(n)], VOCAB)


@pytest.fixture(scope="module")
def fitted():
    return TransformerLMFamily(**TINY).fit(corpus(), np.random.default_rng(0))


def test_contract_shapes(fitted):
    data = corpus(1, 9)
    s = fitted.sample(11, np.random.default_rng(1))
    assert isinstance(s, Sequences) and len(s) == 11
    assert np.all(s.lengths() == 5) and s.tokens.max() < len(VOCAB) and s.vocab is VOCAB
    lp = fitted.log_prob(data)
    assert lp.shape == (9,) and lp.dtype == np.float64 and np.all(np.isfinite(lp)) and np.all(lp < 0)
    kept = TransformerLMFamily(**{**TINY, "keep_prompt": True}).fit(corpus(), np.random.default_rng(0))
    assert np.all(kept.sample(4, np.random.default_rng(2)).lengths() == 8)
    assert fitted.losses_.shape == (8,)


def test_same_seed_same_result_other_seed_differs():
    a = TransformerLMFamily(**TINY).fit(corpus(), np.random.default_rng(5))
    b = TransformerLMFamily(**TINY).fit(corpus(), np.random.default_rng(5))
    c = TransformerLMFamily(**TINY).fit(corpus(), np.random.default_rng(6))
    np.testing.assert_array_equal(a.genome(), b.genome())
    assert not np.array_equal(a.genome(), c.genome())
    sa, sb = a.sample(6, np.random.default_rng(1)), a.sample(6, np.random.default_rng(1))
    np.testing.assert_array_equal(sa.tokens, sb.tokens)
    assert not np.array_equal(sa.tokens, a.sample(6, np.random.default_rng(2)).tokens)


def test_log_prob_is_normalised_over_sequences(fitted):
    """Summed over every sequence of one length, the probabilities are 1 (BOS excluded, as in sampling)."""
    for length in (1, 2):
        seqs = [list(t) for t in itertools.product(range(len(VOCAB)), repeat=length)]
        lp = fitted.log_prob(Sequences.from_list(seqs, VOCAB))
        assert np.exp(lp).sum() == pytest.approx(1.0, rel=1e-5)


def test_long_sequences_use_a_sliding_window(fitted):
    rng = np.random.default_rng(3)
    seq = Sequences.from_list([rng.integers(0, len(VOCAB), 30)], VOCAB)
    exact = fitted.log_prob(seq)
    short = TransformerLMFamily(**{**TINY, "context": 32}).load_state(fitted.state())
    short.context = 12  # same weights, scored with a 12-token window
    windowed = short.log_prob(seq)
    assert np.isfinite(windowed).all() and windowed[0] == pytest.approx(exact[0], rel=0.2)


def test_state_genome_and_warm_start(fitted):
    data = corpus(2, 6)
    restored = TransformerLMFamily(**TINY).load_state(fitted.state())
    np.testing.assert_allclose(restored.log_prob(data), fitted.log_prob(data))
    g = fitted.genome()
    assert g.dtype == np.float32 and g.shape == (TransformerLMFamily(**TINY).n_parameters(len(VOCAB)),)
    assert "tok.weight" in fitted.state() and "blocks.0.qkv.weight" in fitted.state()
    other = TransformerLMFamily(**TINY).fit(corpus(), np.random.default_rng(9))
    other.set_genome(g)
    np.testing.assert_allclose(other.log_prob(data), fitted.log_prob(data))
    with pytest.raises(ValueError):
        other.set_genome(g[:-1])
    # warm start with a zero learning rate keeps the weights exactly
    warm = TransformerLMFamily(**{**fitted.get_params(), "init_state": fitted.state(), "lr": 0.0, "steps": 2})
    warm.fit(corpus(3), np.random.default_rng(4))
    np.testing.assert_array_equal(warm.genome(), g)
    # and with a learning rate it moves from there, not from a random start
    tuned = TransformerLMFamily(**{**fitted.get_params(), "init_state": fitted.state(), "lr": 1e-3, "steps": 2})
    tuned.fit(corpus(3), np.random.default_rng(4))
    assert 0 < np.abs(tuned.genome() - g).max() < 0.05


@pytest.mark.parametrize("strategy", ["greedy", "beam", "sample"])
def test_kv_cache_matches_full_recompute(fitted, strategy):
    prompts = torch.from_numpy(np.random.default_rng(0).integers(0, len(VOCAB), (4, 6)))
    kw = dict(strategy=strategy, num_beams=3, repetition_penalty=1.5, top_k=4, top_p=0.9)
    a = generate(fitted.model_, prompts, 10, generator=torch.Generator().manual_seed(1), **kw)
    b = generate(fitted.model_, prompts, 10, generator=torch.Generator().manual_seed(1), use_cache=False, **kw)
    assert a.shape == (4, 10)
    assert torch.equal(a, b)


def test_cache_logits_equal_full_forward(fitted):
    m = fitted.model_
    x = torch.from_numpy(np.random.default_rng(1).integers(0, len(VOCAB), (3, 9)))
    full = m(x)
    cache = m.new_cache(3, 9)
    with torch.no_grad():
        first = m(x[:, :5], cache, 0)
        rest = [m(x[:, i : i + 1], cache, i) for i in range(5, 9)]
    torch.testing.assert_close(torch.cat([first, *rest], dim=1), full, rtol=1e-5, atol=1e-5)
    cache = m.new_cache(3, 9)
    with torch.no_grad():
        m(x[:, :4], cache, 0)
        block = m(x[:, 4:], cache, 4)  # several new tokens after a filled cache
    torch.testing.assert_close(block, full[:, 4:], rtol=1e-5, atol=1e-5)


def test_beam_one_equals_greedy(fitted):
    prompts = torch.from_numpy(np.random.default_rng(2).integers(0, len(VOCAB), (5, 4)))
    g = generate(fitted.model_, prompts, 12, strategy="greedy")
    b = generate(fitted.model_, prompts, 12, strategy="beam", num_beams=1)
    assert torch.equal(g, b)  # with a penalty they differ: beam search penalises log-probabilities, as HF's does


def test_beam_search_finds_at_least_greedy_score(fitted):
    prompts = torch.from_numpy(np.random.default_rng(4).integers(0, len(VOCAB), (3, 4)))

    def total(cont):
        x = torch.cat([prompts, cont], 1)
        lp = torch.log_softmax(fitted.model_(x[:, :-1]), -1).gather(-1, x[:, 1:, None]).squeeze(-1)
        return lp[:, prompts.shape[1] - 1 :].sum(1)

    with torch.no_grad():
        g = total(generate(fitted.model_, prompts, 6, strategy="greedy"))
        b = total(generate(fitted.model_, prompts, 6, strategy="beam", num_beams=5))
    assert torch.all(b >= g - 1e-5)


def test_repetition_penalty_as_specified():
    logits = torch.tensor([[2.0, -1.0, 0.5, -3.0]])
    seen = torch.tensor([[True, True, False, False]])
    out = apply_repetition_penalty(logits, seen, 3.0)
    torch.testing.assert_close(out, torch.tensor([[2.0 / 3, -3.0, 0.5, -3.0]]))
    assert torch.equal(apply_repetition_penalty(logits, seen, 1.0), logits)


def test_generate_applies_the_penalty_to_seen_tokens(fitted):
    prompts = torch.from_numpy(np.random.default_rng(5).integers(0, len(VOCAB), (6, 3)))
    with torch.no_grad():
        last = fitted.model_(prompts)[:, -1]
    seen = torch.zeros_like(last, dtype=torch.bool).scatter(1, prompts, True)
    for penalty in (1.0, 3.0, 50.0):
        want = apply_repetition_penalty(last, seen, penalty).argmax(-1)
        got = generate(fitted.model_, prompts, 1, strategy="greedy", repetition_penalty=penalty)[:, 0]
        assert torch.equal(got, want)


@pytest.mark.parametrize("kw", [dict(temperature=0.7), dict(top_k=3), dict(top_p=0.6), dict(temperature=1.3, top_k=5, top_p=0.8)])
def test_filter_logits_matches_numpy_decoding(kw):
    logits = torch.from_numpy(np.random.default_rng(0).normal(size=(6, 9)))
    fast = filter_logits(logits, **kw).softmax(-1).numpy()
    slow = decode_probs(torch.softmax(logits, -1).numpy(), **kw)
    np.testing.assert_allclose(fast, slow, atol=1e-10)


@pytest.mark.parametrize("temperature", [1.0, 0.6, 1.7])
def test_filter_logits_adds_the_bias_before_the_temperature(temperature):
    """``softmax((logits + b) / T)``: the biased network's probabilities ``p e^b``, then the temperature, as the
    n-gram family's ``logit_bias``; a zero bias changes nothing, bit for bit."""
    rng = np.random.default_rng(1)
    logits, bias = torch.from_numpy(rng.normal(size=(5, 8))), torch.from_numpy(rng.normal(size=8))
    got = filter_logits(logits, temperature=temperature, bias=bias).softmax(-1).numpy()
    biased = torch.softmax(logits, -1).numpy() * np.exp(bias.numpy())
    want = decode_probs(biased / biased.sum(-1, keepdims=True), temperature=temperature)
    np.testing.assert_allclose(got, want, atol=1e-10)
    assert torch.equal(filter_logits(logits, temperature=temperature, bias=torch.zeros(8, dtype=torch.float64)),
                       filter_logits(logits, temperature=temperature))


def test_logit_bias_in_generate_and_the_family(fitted):
    """A zero bias draws exactly the tokens no bias draws; a large one on a token makes every draw that token, in
    every decoding; the end symbol's bias ends samples (with ``end_token``); a bias of the wrong length is refused."""
    prompts = torch.full((30, 2), fitted.bos_, dtype=torch.long)
    plain = generate(fitted.model_, prompts, 4, banned=(fitted.bos_,), generator=torch.Generator().manual_seed(3))
    zero = generate(fitted.model_, prompts, 4, banned=(fitted.bos_,), generator=torch.Generator().manual_seed(3),
                    logit_bias=torch.zeros(8))
    assert torch.equal(plain, zero)
    big = torch.zeros(8)
    big[4] = 40.0
    for strategy in ("sample", "greedy", "beam"):
        out = generate(fitted.model_, prompts[:4], 3, strategy=strategy, num_beams=2, banned=(fitted.bos_,),
                       generator=torch.Generator().manual_seed(0), logit_bias=big)
        assert (out == 4).all(), strategy
    with pytest.raises(ValueError, match="one value per token id"):
        generate(fitted.model_, prompts, 1, logit_bias=torch.zeros(7))
    fam = TransformerLMFamily(**TINY, logit_bias=np.zeros(8)).load_state(fitted.state())
    assert fam.sample(20, np.random.default_rng(5)).tokens.tolist() == fitted.sample(20, np.random.default_rng(5)).tokens.tolist()
    assert fam.get_params()["logit_bias"] is fam.logit_bias
    ends = TransformerLMFamily(**TINY, end_token=True).fit(corpus(), np.random.default_rng(0))
    stop = np.zeros(8)
    stop[-1] = 40.0
    short = TransformerLMFamily(**TINY, end_token=True, logit_bias=stop).load_state(ends.state())
    assert short.sample(20, np.random.default_rng(1)).lengths().max() == 0
    with pytest.raises(ValueError, match="8 finite floats"):
        TransformerLMFamily(**TINY, logit_bias=np.zeros(5)).load_state(fitted.state()).sample(3, np.random.default_rng(0))


def test_bad_arguments():
    with pytest.raises(ValueError):
        TransformerLMFamily(decoding="nucleus")
    with pytest.raises(ValueError):
        TransformerLMFamily(d_model=10, n_heads=3)._build(5)


def test_sample_rows_draws_from_the_row_distribution():
    probs = torch.tensor([[0.1, 0.0, 0.6, 0.3], [0.0, 0.0, 0.0, 2.0]]).repeat(20000, 1)
    x = sample_rows(probs, torch.Generator().manual_seed(0)).view(-1, 2)
    freq = torch.bincount(x[:, 0], minlength=4).double() / x.shape[0]
    torch.testing.assert_close(freq, torch.tensor([0.1, 0.0, 0.6, 0.3], dtype=torch.float64), atol=0.012, rtol=0)
    assert torch.all(x[:, 1] == 3)
    edge = sample_rows(torch.tensor([[0.5, 0.5, 0.0]]), None)  # zero-mass tail never drawn
    assert edge.item() in (0, 1)


def test_last_only_equals_last_position_of_full_forward(fitted):
    # last_only runs the final block's attention and MLP for the last position only; the cache still gets
    # every position's keys and values, so decoding after such a prompt pass matches the full forward.
    m = fitted.model_
    x = torch.from_numpy(np.random.default_rng(3).integers(0, len(VOCAB), (3, 9)))
    with torch.no_grad():
        full = m(x)
        torch.testing.assert_close(m(x[:, :6], last_only=True), full[:, 5:6], rtol=1e-5, atol=1e-5)
        cache = m.new_cache(3, 9)
        torch.testing.assert_close(m(x[:, :6], cache, 0, last_only=True), full[:, 5:6], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(m(x[:, 6:8], cache, 6, last_only=True), full[:, 7:8], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(m(x[:, 8:9], cache, 8, last_only=True), full[:, 8:9], rtol=1e-5, atol=1e-5)


def test_training_cross_entropy_matches_torch():
    from redqueen.models.neural.lm import _cross_entropy

    g = torch.Generator().manual_seed(0)
    logits = (3 * torch.randn(50, 17, generator=g)).requires_grad_()
    target = torch.randint(0, 17, (50,), generator=g)
    ours = _cross_entropy(logits, target)
    (2.0 * ours).backward()
    grad = logits.grad.clone()
    logits.grad = None
    want = torch.nn.functional.cross_entropy(logits, target)
    (2.0 * want).backward()
    torch.testing.assert_close(ours, want)
    torch.testing.assert_close(grad, logits.grad)


def test_chunked_head_loss_matches_full_cross_entropy(monkeypatch):
    from redqueen.models.neural import lm

    monkeypatch.setattr(lm, "_HEAD_ROWS", 7)  # 3 x 13 = 39 positions: five full blocks and a partial one
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 13, 8, generator=g, requires_grad=True)
    w = torch.randn(11, 8, generator=g, requires_grad=True)
    target = torch.randint(0, 11, (3, 13), generator=g)
    ours = lm._head_loss(x, w, target)
    ours.backward()
    gx, gw = x.grad.clone(), w.grad.clone()
    x.grad = w.grad = None
    want = torch.nn.functional.cross_entropy(torch.nn.functional.linear(x, w).reshape(-1, 11), target.reshape(-1))
    want.backward()
    torch.testing.assert_close(ours, want)
    torch.testing.assert_close(gx, x.grad)
    torch.testing.assert_close(gw, w.grad)


def test_reused_cache_gives_the_same_tokens(fitted):
    # generate keeps one spare cache per model for the next call of the same shape; stale contents must not leak
    from redqueen.models.neural import generate as G

    prompts = torch.from_numpy(np.random.default_rng(5).integers(0, len(VOCAB), (4, 6)))
    other = torch.from_numpy(np.random.default_rng(6).integers(0, len(VOCAB), (4, 6)))
    G._SPARE.pop(fitted.model_, None)
    fresh = generate(fitted.model_, prompts, 10, strategy="greedy")
    assert fitted.model_ in G._SPARE
    generate(fitted.model_, other, 10, strategy="greedy")
    again = generate(fitted.model_, prompts, 10, strategy="greedy")
    assert torch.equal(fresh, again)
    assert torch.equal(fresh, generate(fitted.model_, prompts, 10, strategy="greedy", use_cache=False))


@pytest.mark.parametrize("strategy", ["greedy", "beam", "sample"])
def test_prompt_pass_in_row_blocks_matches_recompute(fitted, strategy, monkeypatch):
    from redqueen.models.neural import generate as G

    monkeypatch.setattr(G, "_PROMPT_TOKENS", 12)  # 6-token prompts: two rows per block, 5 rows -> 3 blocks
    prompts = torch.from_numpy(np.random.default_rng(7).integers(0, len(VOCAB), (5, 6)))
    kw = dict(strategy=strategy, num_beams=3, repetition_penalty=1.5, top_k=4, top_p=0.9)
    a = generate(fitted.model_, prompts, 8, generator=torch.Generator().manual_seed(1), **kw)
    b = generate(fitted.model_, prompts, 8, generator=torch.Generator().manual_seed(1), use_cache=False, **kw)
    assert torch.equal(a, b)


def test_one_token_step_equals_forward_with_cache(fitted):
    m = fitted.model_
    x = torch.from_numpy(np.random.default_rng(8).integers(0, len(VOCAB), (3, 9)))
    with torch.no_grad():
        full = m(x)
        cache = m.new_cache(3, 9)
        m(x[:, :5], cache, 0)
        step = m.one_token_step(cache)
        got = [step(x[:, i], i) for i in range(5, 9)]
    torch.testing.assert_close(torch.stack(got, dim=1), full[:, 5:], rtol=1e-5, atol=1e-5)


BIAS = np.array([1.5, -2.0, 0.0, 0.7, -0.3, 2.2, -1.0, 9.0])  # the 7 tokens of VOCAB, then BOS (the end symbol)


@pytest.mark.parametrize("kw", [dict(temperature=0.5), dict(top_k=3), dict(temperature=1.5, top_p=0.7),
                                dict(logit_bias=BIAS), dict(logit_bias=BIAS, temperature=0.6)])
def test_decoded_log_prob_scores_the_distribution_sampling_draws_from(fitted, kw):
    """``log_prob`` scores the network; ``decoded_log_prob`` its sampling distribution (temperature, top-k,
    top-p in force): normalised, equal to the frequencies ``generate`` draws, and not the network's."""
    m = TransformerLMFamily(**{**TINY, **kw}).load_state(fitted.state())
    ones = Sequences.from_list([[t] for t in range(len(VOCAB))], VOCAB)
    dec, raw = m.decoded_log_prob(ones), m.log_prob(ones)
    np.testing.assert_allclose(raw, fitted.log_prob(ones))  # log_prob is untouched by decoding
    assert np.exp(dec).sum() == pytest.approx(1.0, rel=1e-5)
    assert np.abs(np.exp(dec) - np.exp(raw)).max() > 0.02  # so the frequency check below would refuse raw
    if kw.get("top_k"):
        assert np.isneginf(dec).sum() == len(VOCAB) - 3
    pairs = Sequences.from_list([list(t) for t in itertools.product(range(len(VOCAB)), repeat=2)], VOCAB)
    assert np.exp(m.decoded_log_prob(pairs)).sum() == pytest.approx(1.0, rel=1e-5)
    prompts = torch.full((40000, 1), m.bos_, dtype=torch.long)
    drawn = generate(m.model_, prompts, 1, strategy="sample", generator=torch.Generator().manual_seed(0),
                     banned=(m.bos_,), **kw)[:, 0].numpy()
    freq = np.bincount(drawn, minlength=len(VOCAB))[: len(VOCAB)] / drawn.size
    np.testing.assert_allclose(freq, np.exp(dec), atol=0.01)
    greedy = TransformerLMFamily(**{**TINY, **kw, "decoding": "greedy"}).load_state(fitted.state())
    np.testing.assert_allclose(greedy.decoded_log_prob(ones), raw)  # not a sampling distribution: the network's
