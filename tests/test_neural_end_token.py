"""The transformer's end token: samples end where the model predicts the end, and log_prob scores that event."""

import itertools

import numpy as np
import pytest
from scipy import stats

torch = pytest.importorskip("torch")

from redqueen.data import Sequences, Vocabulary  # noqa: E402
from redqueen.models.neural import TransformerLMFamily  # noqa: E402
from redqueen.models.neural.generate import generate  # noqa: E402
from redqueen.runtime import config as C  # noqa: E402

torch.set_num_threads(1)
VOCAB = Vocabulary(tuple("abcd"), "")
TINY = dict(d_model=16, n_layers=2, n_heads=2, context=32, steps=20, batch_size=8, prompt_len=0, max_new_tokens=3,
            end_token=True)


def corpus(seed=0, n=60):
    rng = np.random.default_rng(seed)
    return Sequences.from_list([rng.integers(0, len(VOCAB), rng.integers(1, 4)) for _ in range(n)], VOCAB)


@pytest.fixture(scope="module")
def fitted():
    return TransformerLMFamily(**TINY).fit(corpus(), np.random.default_rng(0))


def every_sequence(longest):
    return [list(t) for n in range(longest + 1) for t in itertools.product(range(len(VOCAB)), repeat=n)]


def test_log_prob_sums_to_one_over_every_sequence_up_to_the_cut(fitted):
    """Lengths 0..2 end by the model's choice (their end event scored), length 3 is cut: the total is 1."""
    lp = fitted.log_prob(Sequences.from_list(every_sequence(3), VOCAB))
    assert np.exp(lp).sum() == pytest.approx(1.0, rel=1e-5)
    # the same weights without the end token: normalised per length instead, so the total over 4 lengths is 4
    plain = TransformerLMFamily(**{**TINY, "end_token": False}).load_state(fitted.state())
    assert np.exp(plain.log_prob(Sequences.from_list(every_sequence(3), VOCAB))).sum() == pytest.approx(4.0, rel=1e-5)


def test_samples_follow_log_prob(fitted):
    """20,000 samples against exp(log_prob) over all 121 outcomes (chi-square); a model whose samples never end
    early is rejected by the same test."""
    outcomes = every_sequence(3)
    p = np.exp(fitted.log_prob(Sequences.from_list(outcomes, VOCAB)))
    index = {tuple(o): i for i, o in enumerate(outcomes)}
    s = fitted.sample(20000, np.random.default_rng(1))
    assert len(np.unique(s.lengths())) > 1 and s.lengths().max() <= 3
    observed = np.bincount([index[tuple(x)] for x in s], minlength=len(outcomes))
    assert stats.chisquare(observed, p / p.sum() * observed.sum()).pvalue > 1e-4
    fixed = TransformerLMFamily(**{**TINY, "end_token": False}).load_state(fitted.state()).sample(
        20000, np.random.default_rng(1))
    assert np.all(fixed.lengths() == 3)
    wrong = np.bincount([index[tuple(x)] for x in fixed], minlength=len(outcomes))
    assert stats.chisquare(wrong, p / p.sum() * wrong.sum()).pvalue < 1e-6


def test_stopping_early_keeps_every_row_up_to_its_end(fitted):
    """Decoding stops once every row has ended; up to each row's first end the tokens are those of a decode that
    runs to the end (same generator)."""
    bos = fitted.bos_
    prompts = torch.full((64, 1), bos, dtype=torch.long)
    full = generate(fitted.model_, prompts, 20, generator=torch.Generator().manual_seed(4)).numpy()
    cut = generate(fitted.model_, prompts, 20, generator=torch.Generator().manual_seed(4), stop=bos).numpy()
    for a, b in zip(full, cut):
        end = int(np.argmax(a == bos)) if (a == bos).any() else len(a)
        np.testing.assert_array_equal(a[:end], b[:end])
        assert end == len(a) or b[end] == bos
    assert np.all(cut[:, -1] == bos)  # every row ended within 20 tokens, so decoding stopped and filled the rest
    with pytest.raises(ValueError, match="stop needs"):
        generate(fitted.model_, prompts, 2, strategy="beam", stop=bos)


def test_end_token_with_beam_is_refused():
    with pytest.raises(ValueError, match="end_token needs"):
        TransformerLMFamily(**{**TINY, "decoding": "beam"})
    base = {"seed": 1, "world": {"kind": "text"}, "arms": [{"name": "replace"}],
            "family": {"kind": "transformer", "end_token": True, "decoding": "beam"}}
    with pytest.raises(C.ConfigError, match="end_token = true needs decoding"):
        C.validate(base)


def test_kept_prompt_is_not_cut(fitted):
    kept = TransformerLMFamily(**{**TINY, "prompt_len": 2, "keep_prompt": True}).fit(corpus(), np.random.default_rng(0))
    s = kept.sample(200, np.random.default_rng(2))
    assert s.lengths().min() >= 2 and s.lengths().max() <= 5 and len(np.unique(s.lengths())) > 1
