"""The Hugging Face family on a tiny random GPT-2 saved to a temporary folder: fit, sample, score,
state and genome, warm start, LoRA, and a whole loop through the config."""

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from hf_tiny import save_tiny_gpt2  # noqa: E402

from redqueen.models.hf import HFFamily  # noqa: E402
from redqueen.worlds.text import TextWorld  # noqa: E402

LINES = [f"the {a} {b} the {c} ." for a in ("cat", "dog", "hen") for b in ("saw", "ate", "met") for c in ("fox", "ram")]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hf")
    corpus = tmp / "corpus.txt"
    corpus.write_text("\n".join(LINES * 4) + "\n")
    return save_tiny_gpt2(tmp / "gpt2", LINES), TextWorld(corpus=str(corpus), heldout_fraction=0.2)


def family(path, world, **kw):
    return HFFamily(**{"path": str(path), "prompts": world.train, "prompt_len": 2, "max_new_tokens": 6, "steps": 3,
                       "batch_size": 4, **kw})


def test_fit_sample_score_in_the_worlds_tokens(setup):
    path, world = setup
    m = family(path, world).fit(world.sample(40, np.random.default_rng(0)), np.random.default_rng(1))
    s = m.sample(10, np.random.default_rng(2))
    assert len(s) == 10 and s.vocab == world.vocab and s.tokens.max() < len(world.vocab)
    lp = m.log_prob(world.heldout())
    assert lp.shape == (len(world.heldout()),) and np.all(np.isfinite(lp)) and np.all(lp < 0)
    # the score is the model's: a naive per-text loop over logits gives the same totals
    import torch

    text = world.heldout().decode(0)
    ids = [m.start_] + m.tokenizer_(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logp = torch.log_softmax(m.model_(torch.tensor([ids])).logits[0], -1)
    assert lp[0] == pytest.approx(float(sum(logp[i, ids[i + 1]] for i in range(len(ids) - 1))), rel=1e-5)


def test_decoded_log_prob_scores_with_the_sampling_biases(setup):
    """``log_prob`` is the network's; ``decoded_log_prob`` the distribution sampling draws from (a naive loop over
    the logits / T, then top-k), and the same as ``log_prob`` without biases or for greedy decoding."""
    import torch

    path, world = setup
    m = family(path, world).fit(world.sample(40, np.random.default_rng(0)), np.random.default_rng(1))
    data = world.heldout()
    np.testing.assert_allclose(m.decoded_log_prob(data), m.log_prob(data))
    hot = family(path, world, temperature=0.5, top_k=5).load_state(m.state())
    np.testing.assert_allclose(hot.log_prob(data), m.log_prob(data), rtol=1e-6)
    text = data.decode(0)
    ids = [m.start_] + m.tokenizer_(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = m.model_(torch.tensor([ids])).logits[0] / 0.5
    kth = torch.topk(logits, 5, dim=-1).values[:, -1:]
    logp = torch.log_softmax(logits.masked_fill(logits < kth, float("-inf")), -1)
    want = float(sum(logp[i, ids[i + 1]] for i in range(len(ids) - 1)))
    got = hot.decoded_log_prob(data)
    assert got[0] == pytest.approx(want, rel=1e-5) and not np.allclose(got, m.log_prob(data))
    greedy = family(path, world, temperature=0.5, decoding="greedy").load_state(m.state())
    np.testing.assert_allclose(greedy.decoded_log_prob(data), m.log_prob(data), rtol=1e-6)


def test_logit_bias_is_added_before_the_temperature_where_it_samples_and_scores(setup):
    """One bias per token id of the model: ``generate`` runs our processor before its temperature (the scores it
    samples from are ``(logits + b) / T``, checked on this transformers version), ``decoded_log_prob`` scores
    with the same bias, a large bias on a word makes every sampled word that word, and a mis-sized one is refused."""
    import torch
    from transformers import LogitsProcessorList

    from redqueen.models.hf import _AddBias
    from redqueen.models.neural.generate import filter_logits

    path, world = setup
    m = family(path, world).fit(world.sample(40, np.random.default_rng(0)), np.random.default_rng(1))
    size = m.logit_bias_size()
    assert size == m.model_.config.vocab_size
    bias = np.random.default_rng(2).normal(size=size)
    b = torch.from_numpy(bias.astype(np.float32))
    ids = torch.tensor([[m.start_] + m.tokenizer_("the cat", add_special_tokens=False)["input_ids"]])
    out = m.model_.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=1, do_sample=True,
                            temperature=0.7, top_k=0, top_p=1.0, logits_processor=LogitsProcessorList([_AddBias(b)]),
                            output_scores=True, return_dict_in_generate=True, pad_token_id=m.tokenizer_.pad_token_id)
    with torch.no_grad():
        logits = m.model_(ids).logits[:, -1].float()
    torch.testing.assert_close(out.scores[0], filter_logits(logits, temperature=0.7, bias=b), rtol=1e-5, atol=1e-5)
    hot = family(path, world, temperature=0.7, logit_bias=bias).load_state(m.state())
    data = world.heldout()
    text = data.decode(0)
    seq = [m.start_] + m.tokenizer_(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logp = torch.log_softmax((m.model_(torch.tensor([seq])).logits[0] + b) / 0.7, -1)
    want = float(sum(logp[i, seq[i + 1]] for i in range(len(seq) - 1)))
    assert hot.decoded_log_prob(data)[0] == pytest.approx(want, rel=1e-5)
    np.testing.assert_allclose(hot.log_prob(data), m.log_prob(data), rtol=1e-6)  # the network's, bias aside
    cat = np.zeros(size)
    cat[m.tokenizer_.convert_tokens_to_ids("cat")] = 40.0
    drawn = family(path, world, logit_bias=cat).load_state(m.state()).sample(8, np.random.default_rng(3))
    assert len(drawn.tokens) and set(drawn.tokens.tolist()) == {world.vocab.tokens.index("cat")}
    with pytest.raises(ValueError, match=f"{size} finite floats"):
        family(path, world, logit_bias=np.zeros(3)).load_state(m.state()).sample(2, np.random.default_rng(0))


def test_training_lowers_the_loss_and_is_deterministic(setup):
    path, world = setup
    data = world.sample(60, np.random.default_rng(0))
    before = family(path, world).load().log_prob(data).sum()
    a = family(path, world, steps=30, lr=5e-3).fit(data, np.random.default_rng(1))
    b = family(path, world, steps=30, lr=5e-3).fit(data, np.random.default_rng(1))
    assert a.log_prob(data).sum() > before + 10
    assert all(np.array_equal(a.state()[k], b.state()[k]) for k in a.state())
    sa, sb = a.sample(8, np.random.default_rng(5)), b.sample(8, np.random.default_rng(5))
    assert np.array_equal(sa.tokens, sb.tokens)


@pytest.mark.parametrize("decoding", ["greedy", "beam"])
def test_greedy_and_beam_equal_hf_generate(setup, decoding):
    path, world = setup
    m = family(path, world, decoding=decoding, num_beams=3, repetition_penalty=1.5).load()
    m.vocab_, m.prompts_ = world.vocab, ["the cat"]
    ids = [m.start_] + m.tokenizer_("the cat", add_special_tokens=False)["input_ids"]
    import torch

    ref = m.model_.generate(torch.tensor([ids]), max_new_tokens=6, do_sample=False, num_beams=3 if decoding == "beam" else 1,
                            repetition_penalty=1.5, pad_token_id=m.tokenizer_.pad_token_id)
    expect = m._encode([m.tokenizer_.decode(ref[0, len(ids):], skip_special_tokens=True)], world.vocab)
    assert np.array_equal(m.sample(1, np.random.default_rng(0)).tokens, expect.tokens)


def test_state_roundtrip_genome_and_warm_start(setup):
    path, world = setup
    data = world.sample(30, np.random.default_rng(0))
    a = family(path, world).fit(data, np.random.default_rng(1))
    b = family(path, world).load_state(a.state())
    assert np.allclose(a.log_prob(data), b.log_prob(data))
    g = a.genome()
    assert g.dtype == np.float32 and g.size == sum(v.size for v in a.state().values())
    c = family(path, world).load_state(a.state()).set_genome(g * 0)
    assert not np.allclose(c.log_prob(data), a.log_prob(data))
    from redqueen.models.warm import warm_start

    w = warm_start(family(path, world), a)
    assert all(np.array_equal(w.load().state()[k], a.state()[k]) for k in a.state())
    from safetensors.numpy import load, save

    assert set(load(save(a.state()))) == set(a.state())


def test_models_fine_tuned_from_one_folder_merge_in_weight_space(setup, tmp_path):
    """Two fine-tunes of one checkpoint share a genome space (model soups, M2N2): a child built from the midpoint
    holds exactly the parents' mean weights, and samples and scores; a model of another shape refuses in one line."""
    from redqueen.evolve.genome import NotMergeable, genomes
    from redqueen.evolve.operators import lerp

    path, world = setup
    data = world.sample(30, np.random.default_rng(0))
    a = family(path, world).fit(data, np.random.default_rng(1))
    b = family(path, world, lr=3e-3).fit(world.sample(30, np.random.default_rng(5)), np.random.default_rng(2))
    space = genomes([a, b])
    assert space.vectors.shape == (2, a.genome().size) and not np.array_equal(*space.vectors)
    mid = lerp(space.vectors[0], space.vectors[1], 0.5)
    child = space.build(mid)
    assert np.array_equal(child.genome(), mid.astype(np.float32))
    assert np.array_equal(a.genome(), space.vectors[0])  # the parents are untouched
    assert np.isfinite(child.log_prob(data)).all() and len(child.sample(4, np.random.default_rng(3))) == 4
    other = save_tiny_gpt2(tmp_path / "other", LINES + ["a wholly new line of words"])  # a larger vocabulary
    c = family(other, world).fit(data, np.random.default_rng(1))
    with pytest.raises(NotMergeable, match="models of different shapes cannot be merged"):
        genomes([a, c])


def test_loading_prints_no_progress_bars_and_restores_the_callers_settings(setup, capfd):
    from transformers.utils import logging

    path, world = setup
    family(path, world).load()
    assert "Loading weights" not in capfd.readouterr().err
    assert logging.is_progress_bar_enabled() and logging.get_verbosity() == logging.WARNING


def test_a_run_of_a_gpt2_prints_nothing_on_stderr(setup, tmp_path):
    """transformers warns (once per process, so a fresh one) that GPT-2 names no loss type and then uses the causal
    LM loss; the family names that loss, so a valid run's stderr stays empty."""
    import subprocess
    import sys

    path, world = setup
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(LINES * 3))
    cfg = tmp_path / "hf.toml"
    cfg.write_text(f'seed = 1\ngenerations = 1\nn = 10\nreference_size = 10\n[world]\nkind = "text"\n'
                   f'corpus = "{corpus}"\n[family]\nkind = "hf"\npath = "{path}"\nsteps = 1\nbatch_size = 2\n'
                   f'prompt_len = 2\nmax_new_tokens = 3\n[[arms]]\nname = "a"\n')
    done = subprocess.run([sys.executable, "-m", "redqueen", "run", str(cfg), "-q", "--no-report", "-o",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_an_hf_population_merges_and_races_through_the_config(setup):
    """Hugging Face members in a population: merge with SVD mutation, and an arena whose generators evolve a
    temperature against a detector; each run twice from its seed gives the same records."""
    import redqueen

    path, world = setup
    base = {"seed": 3, "generations": 2, "n": 20, "reference_size": 10,
            "world": {"kind": "text", "corpus": world.corpus, "heldout_fraction": 0.2},
            "family": {"kind": "hf", "path": str(path), "steps": 2, "batch_size": 4, "prompt_len": 2,
                       "max_new_tokens": 5}}
    arms = [{"name": "merge", "members": 2, "couplings": [{"kind": "merge", "children": 1, "operator": "slerp",
                                                           "mutation": "svd", "svd_rate": 0.5}]},
            {"name": "arena", "members": 2, "couplings": [{"kind": "arena", "genes": ["temperature"], "samples": 20,
                                                           "detector": {"kind": "hashed_ngram"}}]}]
    cfg = redqueen.validate({**base, "arms": arms})
    r1, r2 = redqueen.run_experiment(cfg), redqueen.run_experiment(cfg)
    assert r1.status == {"merge": "ok", "arena": "ok"}
    assert [(r.arm, r.member, r.metrics) for r in r1.records] == [(r.arm, r.member, r.metrics) for r in r2.records]
    assert any(r.parents for r in r1.records if r.arm == "merge")


def test_without_world_prompts_the_state_carries_the_vocabulary_and_prompts(setup):
    """prompts = "none": vocabulary and prompt pool come from the training data, so a restored model
    (a resumed run) must get them from state(): it samples what the fitted model samples."""
    path, world = setup
    data = world.sample(30, np.random.default_rng(0))
    a = family(path, world, prompts=None).fit(data, np.random.default_rng(1))
    b = family(path, world, prompts=None).load_state(a.state())
    assert b.vocab_ == a.vocab_ and b.prompts_ == a.prompts_ and a.prompts_
    assert np.array_equal(a.sample(6, np.random.default_rng(3)).tokens, b.sample(6, np.random.default_rng(3)).tokens)
    assert a.genome().size == sum(v.size for k, v in a.state().items() if not k.startswith("fixed."))


def test_lora_trains_only_the_adapters(setup):
    pytest.importorskip("peft")
    path, world = setup
    data = world.sample(30, np.random.default_rng(0))
    m = family(path, world, finetune="lora", lora_r=2, steps=5, lr=1e-2).fit(data, np.random.default_rng(1))
    names = list(m.state())
    assert names and all("lora_" in n for n in names)
    full = family(path, world).load()
    assert sum(v.size for v in m.state().values()) < 0.5 * sum(v.size for v in full.state().values())
    back = family(path, world, finetune="lora", lora_r=2).load_state(m.state())
    assert np.allclose(back.log_prob(data), m.log_prob(data))


def test_a_loop_through_the_config(setup, tmp_path):
    path, world = setup
    import redqueen
    from redqueen.runtime.config import ConfigError

    cfg = {"seed": 3, "generations": 2, "n": 16, "reference_size": 10,
           "world": {"kind": "text", "corpus": world.corpus, "heldout_fraction": 0.2},
           "family": {"kind": "hf", "path": str(path), "steps": 2, "batch_size": 4, "prompt_len": 2,
                      "max_new_tokens": 5},
           "arms": [{"name": "replace"}, {"name": "warm", "family": {"warm_start": True}}]}
    r1 = redqueen.run_experiment(redqueen.validate(cfg))
    r2 = redqueen.run_experiment(redqueen.validate(cfg))
    assert r1.trajectory("replace", "ppl_real").shape == (1, 3)
    assert np.array_equal(r1.trajectory("warm", "heterozygosity"), r2.trajectory("warm", "heterozygosity"))
    with pytest.raises(ConfigError, match="not a Hugging Face model folder"):
        redqueen.run_experiment(redqueen.validate({**cfg, "family": {"kind": "hf", "path": str(tmp_path)}}))
    with pytest.raises(ConfigError, match="family.lora_r"):
        redqueen.validate({**cfg, "family": {"kind": "hf", "path": str(path), "lora_r": 0}})
