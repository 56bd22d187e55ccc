"""The transformer and its decoders against Hugging Face GPT-2 on copied weights. The test extra
installs transformers (redqueen itself never needs it); skipped where torch or transformers is missing."""

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from redqueen.models.neural.generate import generate  # noqa: E402
from redqueen.models.neural.gpt2 import from_gpt2  # noqa: E402
from redqueen.models.neural.transformer import CausalTransformer  # noqa: E402

torch.set_num_threads(1)
V, D, L, H, CTX = 61, 32, 2, 4, 64


@pytest.fixture(scope="module")
def pair():
    cfg = transformers.GPT2Config(
        vocab_size=V, n_positions=CTX, n_embd=D, n_layer=L, n_head=H, n_inner=4 * D, activation_function="gelu",
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, initializer_range=0.3, tie_word_embeddings=True,
        bos_token_id=None, eos_token_id=None, pad_token_id=0,
    )
    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(cfg).eval()
    ours = CausalTransformer(vocab_size=V, d_model=D, n_layers=L, n_heads=H, context=CTX, d_ff=4 * D).eval()
    ours.load_state_dict(from_gpt2(hf.state_dict(), ours.state_dict()))
    prompts = torch.randint(0, V, (6, 10), generator=torch.Generator().manual_seed(1))
    return hf, ours, prompts


def test_logits_match(pair):
    hf, ours, prompts = pair
    with torch.no_grad():
        torch.testing.assert_close(ours(prompts), hf(prompts).logits, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("ours_kw, hf_kw", [
    (dict(strategy="greedy"), dict(do_sample=False)),
    (dict(strategy="beam", num_beams=5, repetition_penalty=3.0),
     dict(do_sample=False, num_beams=5, repetition_penalty=3.0, early_stopping=False, length_penalty=0.0)),
], ids=["greedy", "beam5-rep3"])
def test_decoding_matches_hf_generate_token_for_token(pair, ours_kw, hf_kw):
    hf, ours, prompts = pair
    n = 20
    got = generate(ours, prompts, n, generator=torch.Generator().manual_seed(0), **ours_kw)
    with torch.inference_mode():
        want = hf.generate(prompts, attention_mask=torch.ones_like(prompts), max_new_tokens=n, min_new_tokens=n,
                           use_cache=True, **hf_kw)[:, prompts.shape[1]:]
    assert torch.equal(got, want)


def test_a_gpt2_state_of_another_shape_is_refused(pair):
    hf, _, _ = pair
    small = CausalTransformer(vocab_size=V, d_model=D, n_layers=L, n_heads=H, context=CTX, d_ff=2 * D)
    with pytest.raises(ValueError, match="mlp|fc"):
        from_gpt2(hf.state_dict(), small.state_dict())
