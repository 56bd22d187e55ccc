"""redqueen's transformer LM vs Hugging Face GPT-2 at the same size, and a CPU-scale Shumailov reproduction.

    python benchmarks/bench_neural.py speed [--threads 1] [--repeats 5]
    python benchmarks/bench_neural.py reproduce [--generations 4] [--threads 2]
    python benchmarks/bench_neural.py vae [--generations 5]

``speed``: both models are built from scratch with the same shape (d_model
128, 5 layers, 4 heads, d_ff 512, 256 positions, tied embeddings, erf GELU,
no dropout, SDPA attention) over a 2,048-word WikiText-2 vocabulary (plus
BOS), so the parameter counts are equal. Training: AdamW steps on batches of
32 windows of 128 tokens (redqueen: ``TransformerLMFamily.fit``, all
overheads included; HF: ``GPT2LMHeadModel(input_ids, labels=...)`` in the
usual loop). Sampling: 32 prompts of 64 tokens continued by 64 tokens with the
key/value cache (redqueen ``generate``; HF ``generate(use_cache=True)``),
greedy, multinomial sampling, and Shumailov's 5-beam search with repetition
penalty 3. Runs alternate between the two libraries; medians and ratios.

``reproduce``: Shumailov et al. (2024) Fig. 1 at CPU scale. WikiText-2
valid.txt (2,048-word vocabulary, the rest ``<unk>``) cut into 128-token
blocks trains generation 0 from scratch; every later generation trains from
scratch on 64-token continuations of the original blocks' first 64 tokens
(5-beam search, repetition penalty 3) made by the previous generation, with
no original data (replace) or with 10% of the original blocks kept (fresh,
bank). Reported per generation: perplexity of held-out real text (test.txt
blocks), perplexity of the generation's samples under the generation-0
model, distinct-2.

``vae``: the paper's VAE experiment on scikit-learn's digits: each generation
trains a VAE from scratch on images decoded from the previous model's prior
(replace), or with 10% of the real images kept (fresh, bank). Reported: mean
IWAE log-likelihood of the real images and the samples' total pixel variance
relative to the real images'.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from redqueen.data import Sequences, Vocabulary
from redqueen.metrics.text import distinct_n, perplexity, sample_perplexities
from redqueen.models.neural import TransformerLMFamily
from redqueen.models.neural.generate import generate
from redqueen.models.neural.gpt2 import from_gpt2

try:
    from _measure import interleave, load, ratio_text, sgemm_gflops, spread
except ImportError:  # run from elsewhere than benchmarks/
    import sys as _sys

    _sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _measure import interleave, load, ratio_text, sgemm_gflops, spread

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "wikitext-2"
if not DATA.exists():
    DATA = Path("/work/shared/data/wikitext-2")
ARCH = dict(d_model=128, n_layers=5, n_heads=4, context=256)


def wikitext_blocks(name: str, vocab: Vocabulary | None, size: int = 2048, block: int = 128):
    """Word tokens of a WikiText-2 split (``<eos>`` at line ends), top-``size`` vocabulary, cut into blocks."""
    words = []
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        if line.strip():
            words.extend(line.split() + ["<eos>"])
    if vocab is None:
        common = [w for w, _ in collections.Counter(words).most_common(size) if w != "<unk>"][: size - 1]
        vocab = Vocabulary(tuple(["<unk>", *common]))
    index = {w: i for i, w in enumerate(vocab.tokens)}
    ids = np.fromiter((index.get(w, 0) for w in words), dtype=np.int32, count=len(words))
    n = ids.shape[0] // block
    return Sequences(ids[: n * block], np.arange(n + 1, dtype=np.int64) * block, vocab), vocab


def hf_model(vocab_size: int):
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(
        vocab_size=vocab_size, n_positions=ARCH["context"], n_embd=ARCH["d_model"], n_layer=ARCH["n_layers"],
        n_head=ARCH["n_heads"], n_inner=4 * ARCH["d_model"], activation_function="gelu", resid_pdrop=0.0,
        embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=None, eos_token_id=None, pad_token_id=0, tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = GPT2LMHeadModel(cfg)
    try:
        model.set_attn_implementation("sdpa")
    except Exception:  # older transformers: chosen at construction, sdpa is the default on CPU
        pass
    return model


def bench_speed(args) -> None:
    torch.set_num_threads(args.threads)
    print(f"before: {load()}; float32 2048^3 matmul {sgemm_gflops(args.threads):.0f} GFLOP/s on {args.threads} thread(s)")
    data, vocab = wikitext_blocks("valid.txt", None)
    v = len(vocab) + 1
    batch, width, steps = 32, 128, args.steps
    ours = TransformerLMFamily(**ARCH, steps=steps, batch_size=batch, prompt_len=64, max_new_tokens=64)
    ours.fit(data.take(64, np.random.default_rng(0)), np.random.default_rng(0))  # build + warm up
    hf = hf_model(v)
    n_ours = sum(p.numel() for p in ours.model_.parameters())
    n_hf = sum(p.numel() for p in hf.parameters())
    print(f"threads={args.threads} vocab={v} params: redqueen {n_ours:,}  HF GPT-2 {n_hf:,}")
    stream = torch.from_numpy(data.tokens.astype(np.int64))
    opt = torch.optim.AdamW(hf.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1, fused=True)  # as redqueen
    rng = np.random.default_rng(1)

    ours_train = TransformerLMFamily(**{**ARCH, "context": width}, steps=steps, batch_size=batch)

    def train_redqueen():
        t = time.perf_counter()
        ours_train.fit(data, rng)
        return time.perf_counter() - t

    def train_hf():
        hf.train()
        t = time.perf_counter()
        for _ in range(steps):
            starts = torch.from_numpy(rng.integers(0, stream.shape[0] - width, batch))
            x = stream[starts[:, None] + torch.arange(width)]
            loss = hf(input_ids=x, labels=x).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(hf.parameters(), 1.0)
            opt.step()
        return time.perf_counter() - t

    if not args.decode_only:
        tr = _alternate(train_redqueen, train_hf, args.repeats)
        toks = steps * batch * width
        _report("train tokens/s", toks / np.array(tr[0]), toks / np.array(tr[1]))

    hf.eval()
    hf_fast = hf_fast_paths(hf, args.hf_fast)
    model = ours.model_
    prompts = torch.from_numpy(data.tokens[: 32 * 64].astype(np.int64).reshape(32, 64))
    model.load_state_dict(from_gpt2(hf.state_dict(), model.state_dict()))
    for label, ours_kw, hf_kw in [
        ("greedy", dict(strategy="greedy"), dict(do_sample=False)),
        ("sample", dict(strategy="sample"), dict(do_sample=True, top_k=0, top_p=1.0, temperature=1.0)),
        ("beam5+rep3", dict(strategy="beam", num_beams=5, repetition_penalty=3.0),
         dict(do_sample=False, num_beams=5, repetition_penalty=3.0, early_stopping=False, length_penalty=0.0)),
    ]:
        outs = {}

        def run_ours():
            t = time.perf_counter()
            outs["ours"] = generate(model, prompts, 64, generator=torch.Generator().manual_seed(0), **ours_kw)
            return time.perf_counter() - t

        def run_hf(name, m, extra):
            def go():
                t = time.perf_counter()
                with torch.inference_mode():
                    out = m.generate(prompts, attention_mask=torch.ones_like(prompts), max_new_tokens=64,
                                     min_new_tokens=64, use_cache=True, **hf_kw, **extra)
                outs[name] = out[:, 64:]
                return time.perf_counter() - t
            return go

        plain = "HF generate (dynamic cache)"
        variants = {"redqueen": run_ours, plain: run_hf(plain, hf, {})}
        for name, m, extra in hf_fast:
            if "compile" not in name or label in args.compile_for:
                variants[name] = run_hf(name, m, extra)
        ok = {}
        for name, fn in list(variants.items()):  # first call: warm-up, and torch.compile's compilation
            try:
                t = time.perf_counter()
                fn()
                ok[name] = time.perf_counter() - t
            except Exception as e:  # a fast path this transformers/torch cannot run here: say so, measure the rest
                print(f"  {label}: {name} does not run here ({type(e).__name__}: {str(e).splitlines()[0][:160]})")
                del variants[name]
        res = interleave(variants, args.repeats, warmup=0, self_timed=True)
        same = ""
        if label != "sample":
            same = "; same tokens as HF: " + ", ".join(
                f"{(outs['ours'] == outs[k]).float().mean().item():.3f}" for k in variants if k != "redqueen")
        toks = 32 * 64
        print(f"\n{label}: tokens/s, median (min-max) of {args.repeats} interleaved rounds{same}")
        for name, ts in res.items():
            extra = "" if name == "redqueen" else f"; redqueen's speed-up {ratio_text(ts, res['redqueen'])}"
            first = f" (first call {ok[name]:.1f} s)" if name != "redqueen" and ok[name] > 3 * min(ts) else ""
            print(f"  {name:44s} {spread(toks / np.array(ts))}{extra}{first}")
    print(f"\nafter: {load()}")


def hf_fast_paths(hf, kinds):
    """HF's faster CPU decoding paths: a static KV cache, and a static cache with the forward
    compiled by torch.compile (fixed shapes, so it compiles once per decoding shape)."""
    import copy

    paths = []
    if "static" in kinds:
        paths.append(("HF generate, static cache", hf, {"cache_implementation": "static"}))
    if "compile" in kinds:
        hc = copy.deepcopy(hf)
        hc.forward = torch.compile(hc.forward, dynamic=False, fullgraph=False)
        paths.append(("HF generate, static cache + torch.compile", hc, {"cache_implementation": "static"}))
    return paths


def _alternate(a, b, repeats):
    ta, tb = [], []
    for _ in range(repeats):
        ta.append(a())
        tb.append(b())
    return ta, tb


def _report(label, ours, hf, extra=""):
    mo, mh = statistics.median(ours), statistics.median(hf)
    print(f"{label:32s} redqueen {mo:10.0f}  HF {mh:10.0f}  ratio {mo / mh:5.2f}x{extra}"
          f"   (runs: redqueen {np.round(ours).astype(int).tolist()}, HF {np.round(hf).astype(int).tolist()})")


def reproduce(args) -> None:
    torch.set_num_threads(args.threads)
    real, vocab = wikitext_blocks("valid.txt", None)
    held, _ = wikitext_blocks("test.txt", vocab)
    rng = np.random.default_rng(args.seed)
    real = real.take(args.blocks, rng)
    held = held.take(args.held_out, rng)
    lm = dict(ARCH, epochs=args.epochs, batch_size=32, lr=2e-3, prompt_len=64, max_new_tokens=64, prompts=real,
              decoding="beam", num_beams=5, repetition_penalty=3.0, sample_batch_size=64)
    print(f"{len(real)} training blocks of 128 tokens, {len(held)} held-out blocks, vocab {len(vocab)}, "
          f"{args.epochs} epochs per generation, threads {args.threads}")
    gen0 = TransformerLMFamily(**lm).fit(real, np.random.default_rng(args.seed))
    ppl0 = perplexity(gen0.log_prob(held), held.lengths())
    samples0 = gen0.sample(len(real), np.random.default_rng(args.seed + 1))
    print(f"gen 0: held-out ppl {ppl0:8.1f}  per-sequence ppl of its samples under gen 0 "
          f"p50/p90/p99 {_tail(gen0.log_prob(samples0), samples0.lengths())}")
    for arm in ("replace", "fresh10"):
        model, samples = gen0, samples0
        arm_rng = np.random.default_rng(args.seed + 2)
        for g in range(1, args.generations + 1):
            t = time.perf_counter()
            if arm == "fresh10":
                k = int(round(0.1 * len(real)))
                train = samples.take(len(real) - k, arm_rng).concat(real.take(k, arm_rng))
            else:
                train = samples
            model = TransformerLMFamily(**lm).fit(train, arm_rng)
            ppl = perplexity(model.log_prob(held), held.lengths())
            samples = model.sample(len(real), arm_rng)
            sp = sample_perplexities(gen0.log_prob(samples), model.log_prob(samples), samples.lengths())
            print(f"{arm:8s} gen {g}: held-out ppl {ppl:8.1f}  samples ppl under gen 0 {sp['ppl_gen0']:8.1f}  "
                  f"under self {sp['ppl_self']:6.1f}  per-sequence p50/p90/p99 "
                  f"{_tail(gen0.log_prob(samples), samples.lengths())}  distinct-2 {distinct_n(samples, 2):.3f}  "
                  f"({time.perf_counter() - t:.0f} s)", flush=True)


def _tail(log_probs: np.ndarray, lengths: np.ndarray) -> str:
    """50th/90th/99th percentiles of per-sequence perplexities (the histogram's tail, Shumailov et al. Fig. 1)."""
    per_seq = np.exp(-log_probs / np.maximum(lengths, 1))
    return "/".join(f"{np.percentile(per_seq, q):.1f}" for q in (50, 90, 99))


def vae(args) -> None:
    from sklearn.datasets import load_digits

    from redqueen.data import Points
    from redqueen.models.neural import VAEFamily

    torch.set_num_threads(args.threads)
    real = Points(load_digits().data)
    var0 = real.x.var(axis=0).sum()
    kw = dict(latent_dim=8, hidden=(256, 128), epochs=args.epochs)
    gen0 = VAEFamily(**kw).fit(real, np.random.default_rng(args.seed))
    print(f"{len(real)} digits, {args.epochs} epochs per generation; gen 0: real loglik {gen0.log_prob(real).mean():8.1f}")
    for arm in ("replace", "fresh10"):
        model = gen0
        arm_rng = np.random.default_rng(args.seed + 2)
        for g in range(1, args.generations + 1):
            samples = model.sample(len(real), arm_rng)
            if arm == "fresh10":
                k = int(round(0.1 * len(real)))
                train = samples.take(len(real) - k, arm_rng).concat(real.take(k, arm_rng))
            else:
                train = samples
            model = VAEFamily(**kw).fit(train, arm_rng)
            out = model.sample(len(real), np.random.default_rng(g))
            print(f"{arm:8s} gen {g}: real loglik {model.log_prob(real).mean():8.1f}  "
                  f"sample variance / real {out.x.var(axis=0).sum() / var0:.3f}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--repeats", type=int, default=5)
    s.add_argument("--steps", type=int, default=5)
    s.add_argument("--compile-for", default="greedy",
                   help="decoding strategies to time torch.compile on (comma-separated: greedy,sample,beam5+rep3); "
                        "each compiles anew, minutes on a loaded machine")
    s.add_argument("--decode-only", action="store_true", help="skip the training comparison")
    s.add_argument("--hf-fast", default="static,compile",
                   help="HF's faster decoding paths to time too: static, compile (comma-separated; '' for none)")
    r = sub.add_parser("reproduce")
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--generations", type=int, default=4)
    r.add_argument("--blocks", type=int, default=800)
    r.add_argument("--held-out", type=int, default=200)
    r.add_argument("--epochs", type=float, default=6.0)
    r.add_argument("--seed", type=int, default=0)
    v = sub.add_parser("vae")
    v.add_argument("--threads", type=int, default=1)
    v.add_argument("--generations", type=int, default=5)
    v.add_argument("--epochs", type=int, default=30)
    v.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.cmd == "speed":
        args.hf_fast = [k for k in args.hf_fast.split(",") if k]
        args.compile_for = [k for k in args.compile_for.split(",") if k]
    {"speed": bench_speed, "reproduce": reproduce, "vae": vae}[args.cmd](args)


if __name__ == "__main__":
    main()
