"""Watermarked decoding against Hugging Face generate() on a tiny randomly initialised GPT-2 (nothing is downloaded),
and the transformer family's watermark end to end. Skipped where torch or transformers is missing."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from redqueen.data import Sequences, Vocabulary  # noqa: E402
from redqueen.models.neural import TransformerLMFamily  # noqa: E402
from redqueen.models.neural.generate import _WatermarkBias, filter_logits, generate  # noqa: E402
from redqueen.watermark import Watermark, detect  # noqa: E402

from test_neural_gpt2 import V, pair  # noqa: E402,F401  (the tiny GPT-2 and our copy of it, as a fixture)


def _config(wm: Watermark):
    return transformers.WatermarkingConfig(greenlist_ratio=wm.gamma, bias=wm.delta, hashing_key=wm.key,
                                           seeding_scheme="lefthash", context_width=wm.context)


@pytest.mark.parametrize("wm", [Watermark(delta=2.0), Watermark(gamma=0.5, delta=8.0, key=4242),
                                Watermark(gamma=0.1, delta=1.0, key=2**40 + 1)], ids=["default", "strong", "sparse"])
@pytest.mark.parametrize("ours_kw, hf_kw", [
    (dict(strategy="greedy"), dict(do_sample=False)),
    (dict(strategy="beam", num_beams=5, repetition_penalty=3.0),
     dict(do_sample=False, num_beams=5, repetition_penalty=3.0, early_stopping=False, length_penalty=0.0)),
], ids=["greedy", "beam5-rep3"])
def test_watermarked_decoding_matches_hf_generate_token_for_token(pair, wm, ours_kw, hf_kw):
    hf, ours, prompts = pair
    n = 20
    got = generate(ours, prompts, n, watermark=wm, **ours_kw)
    with torch.inference_mode():
        want = hf.generate(prompts, attention_mask=torch.ones_like(prompts), max_new_tokens=n, min_new_tokens=n,
                           use_cache=True, watermarking_config=_config(wm), **hf_kw)[:, prompts.shape[1]:]
    assert torch.equal(got, want)
    assert not torch.equal(got, generate(ours, prompts, n, **ours_kw))  # the watermark changed the text
    # and Hugging Face's detector reads our continuations exactly as ours does
    det = transformers.WatermarkDetector(transformers.GPT2Config(vocab_size=V, bos_token_id=V - 1), "cpu", _config(wm))
    hf_z = det(got[got[:, 0] != V - 1], return_dict=True).z_score
    seqs = Sequences(got.reshape(-1).numpy(), np.arange(7) * n, Vocabulary(tuple(map(str, range(V)))))
    np.testing.assert_array_equal(detect(wm, seqs).z[(got[:, 0] != V - 1).numpy()], hf_z)


def test_sampling_scores_are_hf_processor_chain(pair):
    """Sampling: repetition penalty, temperature, top-k, top-p, then the watermark -- HF's order, value for value."""
    from transformers.generation.logits_process import (
        TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper, WatermarkLogitsProcessor,
    )

    _, ours, prompts = pair
    wm = Watermark(gamma=0.3, delta=2.5, key=77)
    with torch.no_grad():
        scores = ours(prompts)[:, -1].float()
    want = scores.clone()
    for proc in (TemperatureLogitsWarper(0.7), TopKLogitsWarper(20), TopPLogitsWarper(0.9),
                 WatermarkLogitsProcessor(V, "cpu", greenlist_ratio=0.3, bias=2.5, hashing_key=77)):
        want = proc(prompts, want)
    got = _WatermarkBias(wm, V, V, prompts)(filter_logits(scores, temperature=0.7, top_k=20, top_p=0.9))
    assert torch.equal(got, want)


def test_watermark_with_a_wider_context_skips_steps_without_enough_tokens(pair):
    _, ours, _ = pair
    one = torch.randint(0, V, (4, 1), generator=torch.Generator().manual_seed(3))
    wm = Watermark(delta=50.0, context=3)  # so strong that every watermarked step is green
    out = generate(ours, one, 12, strategy="greedy", watermark=wm)
    full = torch.cat([one, out], dim=1)
    seqs = Sequences(full.reshape(-1).numpy(), np.arange(5) * 13, Vocabulary(tuple(map(str, range(V)))))
    d = detect(wm, seqs)
    assert np.all(d.scored == 10) and np.all(d.green == 10)
    plain = generate(ours, one, 12, strategy="greedy")
    assert torch.equal(out[:, :2], plain[:, :2])  # steps 0 and 1 had fewer than 3 tokens before them


VOCAB = Vocabulary(tuple("abcdefghij"), "")
TINY = dict(d_model=16, n_layers=2, n_heads=2, context=40, steps=8, batch_size=8, prompt_len=3, max_new_tokens=30)


def test_transformer_family_watermark_is_detected_and_leaves_log_prob_alone():
    rng = np.random.default_rng(0)
    data = Sequences.from_list([rng.integers(0, 10, rng.integers(5, 20)) for _ in range(60)], VOCAB)
    wm = Watermark(gamma=0.5, delta=3.0, key=9)
    plain = TransformerLMFamily(**TINY).fit(data, np.random.default_rng(1))
    marked = TransformerLMFamily(**TINY, watermark={"gamma": 0.5, "delta": 3.0, "key": 9}).fit(data, np.random.default_rng(1))
    np.testing.assert_array_equal(marked.log_prob(data), plain.log_prob(data))
    for decoding in ("sample", "greedy", "beam"):
        kw = dict(TINY, decoding=decoding, num_beams=3)
        m = TransformerLMFamily(**kw, watermark=wm).load_state(marked.state())
        m.prompts_ = marked.prompts_
        s = m.sample(20, np.random.default_rng(2))
        assert s.tokens.max() < 10  # BOS is never emitted, green lists live on the data vocabulary
        z = detect(wm, s).z
        assert np.median(z) > 2.5, decoding
        p = TransformerLMFamily(**kw).load_state(marked.state())
        p.prompts_ = marked.prompts_
        assert np.median(detect(wm, p.sample(20, np.random.default_rng(2))).z) < 2.0, decoding
    again = TransformerLMFamily(**TINY, watermark=wm).load_state(marked.state())
    again.prompts_ = marked.prompts_
    a, b = again.sample(8, np.random.default_rng(4)), again.sample(8, np.random.default_rng(4))
    np.testing.assert_array_equal(a.tokens, b.tokens)


def test_a_transformer_paraphrases():
    from redqueen.watermark import paraphrase

    rng = np.random.default_rng(0)
    data = Sequences.from_list([rng.integers(0, 10, rng.integers(5, 20)) for _ in range(60)], VOCAB)
    lm = TransformerLMFamily(**TINY).fit(data, np.random.default_rng(1))
    out = paraphrase(data, 0.5, lm, np.random.default_rng(2))
    np.testing.assert_array_equal(out.offsets, data.offsets)
    assert out.tokens.max() < 10 and 0.2 < np.mean(out.tokens != data.tokens) < 0.5
    np.testing.assert_array_equal(out.tokens, paraphrase(data, 0.5, lm, np.random.default_rng(2)).tokens)
    long = Sequences.from_list([rng.integers(0, 10, 70)], VOCAB)  # longer than the context: the last 39 tokens
    assert paraphrase(long, 1.0, lm, np.random.default_rng(3)).tokens.max() < 10
