"""Pre-trained weights: a vocabulary shared across corpora, family.init, and its one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from redqueen.runtime import config as C
from redqueen.worlds.text import TextWorld

torch = pytest.importorskip("torch", reason="pre-trained weights are for the neural families (torch)")

from redqueen.models.neural import TransformerLMFamily, pretrained  # noqa: E402
from redqueen.runtime.build import make_family, make_world  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture
def corpora(tmp_path):
    rng = np.random.default_rng(0)
    a = [f"a{i}" for i in range(30)] + ["the", "and"]
    b = [f"b{i}" for i in range(30)] + ["the", "and"]
    pa, pb = tmp_path / "a.txt", tmp_path / "b.txt"
    pa.write_text("\n".join(" ".join(rng.choice(a, size=8)) for _ in range(200)))
    pb.write_text("\n".join(" ".join(rng.choice(b, size=8)) for _ in range(400)))
    return pa, pb


def test_joint_vocabulary_is_the_same_from_either_corpus(corpora):
    pa, pb = corpora
    wa = TextWorld(corpus=str(pa), vocab_size=40, vocab_corpora=[str(pb)])
    wb = TextWorld(corpus=str(pb), vocab_size=40, vocab_corpora=[str(pa)])
    assert wa.vocab == wb.vocab and len(wa.vocab) == 41  # 62 tokens in all: capped, with <unk>
    # each corpus weighs the same although b is twice as long: both shared words are in, and tokens of both
    assert {"the", "and"} <= set(wa.vocab.tokens)
    assert any(t.startswith("a") for t in wa.vocab.tokens) and any(t.startswith("b") for t in wa.vocab.tokens)
    own = TextWorld(corpus=str(pa), vocab_size=40)
    assert own.vocab != wa.vocab and not any(t.startswith("b") for t in own.vocab.tokens)
    with pytest.raises(ValueError, match="vocab_corpora"):
        TextWorld(corpus=str(pa), vocab_corpora=[str(pa.parent / "missing.txt")])


def _exp(corpus, other, **family):
    return C.validate({
        "seed": 1, "generations": 1, "n": 30, "reference_size": 10,
        "world": {"kind": "text", "corpus": str(corpus), "vocab_size": 40, "max_len": 10, "vocab_corpora": [str(other)]},
        "family": {"kind": "transformer", "d_model": 16, "n_layers": 1, "n_heads": 2, "context": 16, "steps": 2,
                   "batch_size": 4, "prompt_len": 2, "max_new_tokens": 3, **family},
        "arms": [{"name": "replace"}],
    })


def test_init_starts_every_fit_from_the_pre_trained_weights(corpora, tmp_path):
    pa, pb = corpora
    pre = TransformerLMFamily(d_model=16, n_layers=1, n_heads=2, context=16, steps=5, batch_size=4)
    pre.fit(TextWorld(corpus=str(pb), vocab_size=40, max_len=10, vocab_corpora=[str(pa)]).train,
            np.random.default_rng(0))
    path = pretrained.save(pre, tmp_path / "pre.safetensors", note="test")
    loaded = pretrained.load(path)
    assert loaded.meta["note"] == "test" and loaded.tokens == pre.vocab_.tokens
    exp = _exp(pa, pb, init=str(path), lr=1e-9)
    world = make_world(exp.world)
    model = make_family(exp.family, world)().fit(world.sample(30, np.random.default_rng(1)), np.random.default_rng(1))
    from redqueen.evolve.genome import parameters

    for k, v in parameters(pre.state()).items():  # two steps at lr 1e-9 leave the weights where pre-training put them
        np.testing.assert_allclose(model.state()[k], v, atol=1e-5)


def test_init_errors_are_one_line(corpora, tmp_path):
    pa, pb = corpora
    with pytest.raises(C.ConfigError, match="family.init: .*no such file"):
        make_family(_exp(pa, pb, init=str(tmp_path / "none.safetensors")).family, None)
    (tmp_path / "junk.safetensors").write_bytes(b"not weights")
    with pytest.raises(C.ConfigError, match="not a readable safetensors"):
        make_family(_exp(pa, pb, init=str(tmp_path / "junk.safetensors")).family, None)
    pre = TransformerLMFamily(d_model=16, n_layers=1, n_heads=2, context=16, steps=1, batch_size=4)
    own = TextWorld(corpus=str(pa), vocab_size=40, max_len=10)  # its own vocabulary, not the joint one
    pre.fit(own.train, np.random.default_rng(0))
    pretrained.save(pre, tmp_path / "other.safetensors")
    exp = _exp(pa, pb, init=str(tmp_path / "other.safetensors"))
    with pytest.raises(C.ConfigError, match="another vocabulary"):
        make_family(exp.family, make_world(exp.world))
    wide = _exp(pa, pb, init=str(tmp_path / "other.safetensors"), d_model=32)
    with pytest.raises(C.ConfigError, match="does not fit this architecture"):
        make_family(wide.family, own)
