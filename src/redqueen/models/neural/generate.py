"""Batched decoding for :class:`~redqueen.models.neural.transformer.CausalTransformer`.

Strategies: ``"sample"`` (temperature, then top-k, then top-p), ``"greedy"``
and ``"beam"`` (deterministic beam search with ``num_beams`` beams per
prompt, no end token: every continuation has exactly ``max_new_tokens``
tokens, so beams are ranked by total log-probability). The repetition
penalty of Keskar et al. (2019, CTRL), as in Hugging Face's
``RepetitionPenaltyLogitsProcessor``, is applied to the raw logits of every
token already present in the row (prompt or generated): a positive logit is
divided by the penalty, a negative one multiplied. Beam search, like Hugging
Face's (and so Shumailov et al.'s setup), applies the penalty to the
log-probabilities instead -- all negative, so a seen token's log-probability
is multiplied by the penalty -- and ranks beams by the sum of those scores;
without a penalty one beam equals greedy decoding. Both match ``generate()``
token for token on copied weights (tests/test_neural_gpt2.py).

A ``logit_bias`` (one value per token id) is added to the logits after the repetition penalty and the
bans: sampling adds it before the temperature (:func:`filter_logits`, the distribution the family's
``decoded_log_prob`` scores), greedy decoding to the logits and beam search to the log-probabilities, as a
Hugging Face ``SequenceBiasLogitsProcessor`` of single tokens acts.

With ``use_cache=False`` every step re-runs the whole prefix (the reference
the cached path is tested against).

A :class:`~redqueen.watermark.Watermark` adds ``delta`` to the green tokens'
scores where Hugging Face's ``WatermarkLogitsProcessor`` does: after the
repetition penalty and, when sampling, after temperature, top-k and top-p
(greedy and sampling act on logits, beam search on log-probabilities). The
green list of a row is keyed on its last ``context`` tokens, prompt included;
steps with fewer tokens than that are not watermarked. Greedy and beam decoding
with a watermark equal ``generate(..., watermarking_config=...)`` token for
token on copied weights (tests/test_watermark_neural.py).
"""

from __future__ import annotations

import weakref

import torch
import torch.nn.functional as F

from redqueen.models.neural.transformer import CausalTransformer, reorder_cache

STRATEGIES = ("sample", "greedy", "beam")

# One spare key/value cache per model, reused by the next call of the same shape: a fresh cache's pages
# are faulted in on first write (~3,500 faults, ~3% of a 32 x 64-token greedy decode at the benchmark's
# size). A call takes the spare out (so overlapping calls never share one) and puts its own back when done.
_SPARE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_SPARE_MAX_BYTES = 64 * 2**20
_PROMPT_TOKENS = 1024


def _take_cache(model: CausalTransformer, batch: int, length: int):
    spare = _SPARE.pop(model, None)
    d = model.tok.weight.shape[1]
    want = (batch, model.n_heads, length, d // model.n_heads)
    if (spare is not None and len(spare) == len(model.blocks) and tuple(spare[0][0].shape) == want
            and spare[0][0].dtype == model.tok.weight.dtype):
        return spare
    return model.new_cache(batch, length)


def _give_cache(model: CausalTransformer, cache) -> None:
    if cache and sum(kb.nbytes + vb.nbytes for kb, vb in cache) <= _SPARE_MAX_BYTES:
        _SPARE[model] = cache


def apply_repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """``logits`` ``(N, V)``, ``seen`` bool ``(N, V)``: divide positive / multiply negative logits of seen tokens."""
    if penalty == 1.0:
        return logits
    penalised = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, penalised, logits)


def filter_logits(logits: torch.Tensor, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                  bias: torch.Tensor | None = None) -> torch.Tensor:
    """A logit ``bias`` ``(V,)`` added, then temperature, then top-k, then nucleus (top-p) truncation along the last
    axis; removed entries become ``-inf``. Shape ``(..., V)``; without biases, ``logits`` itself. So the
    distribution sampled is ``softmax((logits + bias) / temperature)``: ``(p e^b)^(1/T)``, as the n-gram family's
    ``logit_bias``."""
    if bias is not None:
        logits = logits + bias
    if temperature != 1.0:
        logits = logits / temperature
    v = logits.shape[-1]
    if 0 < top_k < v:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        remove_sorted = (probs.cumsum(-1) - probs) >= top_p  # the first token is always kept
        remove = torch.zeros_like(remove_sorted).scatter(-1, order, remove_sorted)
        logits = logits.masked_fill(remove, float("-inf"))
    return logits


class _WatermarkBias:
    """Adds ``delta`` to each row's green tokens, keyed on the row's last ``context`` tokens (kept here)."""

    def __init__(self, watermark, vocab_size: int, width: int, prompts: torch.Tensor):
        self.wm = watermark
        self.greens = watermark.greens(vocab_size)
        self.width = width
        self.length = prompts.shape[1]
        h = watermark.context
        self.last = prompts[:, max(0, prompts.shape[1] - h):].clone()

    def __call__(self, scores: torch.Tensor) -> torch.Tensor:
        if self.length < self.wm.context:  # Hugging Face skips the step too
            return scores
        hashes = self.wm.last_hash(self.last.numpy())
        mask = torch.from_numpy(self.greens.mask(hashes, self.width))
        return torch.where(mask, scores + self.wm.delta, scores)

    def advance(self, tok: torch.Tensor, rows: torch.Tensor | None = None) -> None:
        last = self.last if rows is None else self.last[rows]
        h = self.wm.context
        self.last = torch.cat([last, tok.view(-1, 1)], dim=1)[:, -h:] if h else last
        self.length += 1

    def expand(self, k: int) -> None:
        self.last = self.last.repeat_interleave(k, dim=0)


def sample_rows(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One draw per row of ``probs`` ``(N, V)`` (rows need not be normalised) by inverting the row's CDF; ``(N,)``.

    Uses one uniform number per row instead of ``torch.multinomial``'s work per
    entry (about 10x faster for a 2,000-word vocabulary on a CPU). Never returns
    a zero-probability entry.
    """
    cdf = probs.double().cumsum(-1)
    u = torch.rand(probs.shape[0], 1, generator=generator, dtype=torch.float64) * cdf[:, -1:]
    idx = torch.searchsorted(cdf, u, right=True).clamp_max(probs.shape[1] - 1)
    bad = probs.gather(1, idx) <= 0  # u rounded onto the total: take the last entry with mass instead
    if bool(bad.any()):
        last = probs.shape[1] - 1 - (probs.flip(-1) > 0).int().argmax(-1, keepdim=True)
        idx = torch.where(bad, last, idx)
    return idx.view(-1)


class _Stepper:
    """Feeds tokens to the model, with or without the key/value cache, and returns last-position logits."""

    def __init__(self, model: CausalTransformer, prompts: torch.Tensor, total: int, use_cache: bool):
        self.model = model
        self.use_cache = use_cache
        self.seqs = prompts  # the whole rows, kept only without the cache (the cache holds the prefix)
        self.prompt_len = self.pos = prompts.shape[1]
        self.cache = _take_cache(model, prompts.shape[0], total) if use_cache else None
        self.step = None  # made at the first cached step, after any beam expansion

    def start(self) -> torch.Tensor:
        if self.cache is None:
            return self.model(self.seqs, None, 0, last_only=True)[:, -1]
        # The prompt pass goes a few rows at a time: a whole batch's activations (4 MB and more per tensor at
        # 32 x 64 tokens) are mapped and page-faulted afresh by the allocator; blocks of ~1,024 tokens mostly
        # are not (~2.5% of a 32 x 64-token greedy decode).
        n = self.seqs.shape[0]
        rows = max(1, _PROMPT_TOKENS // max(1, self.prompt_len))
        if rows >= n:
            return self.model(self.seqs, self.cache, 0, last_only=True)[:, -1]
        outs = [self.model(self.seqs[s : s + rows], [(kb[s : s + rows], vb[s : s + rows]) for kb, vb in self.cache],
                           0, last_only=True)[:, -1] for s in range(0, n, rows)]
        return torch.cat(outs)

    def expand(self, k: int) -> None:
        if self.cache is not None:
            self.cache = [(kb.repeat_interleave(k, dim=0), vb.repeat_interleave(k, dim=0)) for kb, vb in self.cache]
            self.step = None
        else:
            self.seqs = self.seqs.repeat_interleave(k, dim=0)

    def reorder(self, rows: torch.Tensor) -> None:
        if self.cache is not None:
            reorder_cache(self.cache, rows, self.prompt_len, self.pos)  # rows stay within their prompt's beams
        else:
            self.seqs = self.seqs[rows]

    def advance(self, tok: torch.Tensor) -> torch.Tensor:
        if self.cache is not None:
            if self.step is None:
                self.step = self.model.one_token_step(self.cache)
            out = self.step(tok.view(-1), self.pos)
        else:
            self.seqs = torch.cat([self.seqs, tok.view(-1, 1)], dim=1)
            out = self.model(self.seqs, None, 0, last_only=True)[:, -1]
        self.pos += 1
        return out


@torch.inference_mode()
def generate(
    model: CausalTransformer,
    prompts: torch.Tensor,
    max_new_tokens: int,
    *,
    strategy: str = "sample",
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    repetition_penalty: float = 1.0,
    num_beams: int = 5,
    banned: tuple[int, ...] = (),
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    watermark=None,
    watermark_vocab: int | None = None,
    stop: int | None = None,
    logit_bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """Continue each prompt row by ``max_new_tokens`` tokens.

    ``prompts`` is int64 ``(B, P)`` with ``P >= 1``; returns int64 ``(B, max_new_tokens)``
    (the continuation only). ``banned`` token ids are never produced. ``watermark``
    (a :class:`~redqueen.watermark.Watermark`) draws its green lists over the first
    ``watermark_vocab`` token ids (default: all of the model's).
    ``stop`` (sample and greedy only): a row that emits this id has ended; decoding stops
    once every row has (the rest of the output is ``stop``, so a row ends at its first one).
    ``logit_bias`` (float ``(V,)``, one per token id of the model) is added to every step's logits after the
    repetition penalty and the bans, before the temperature (beam search: to the log-probabilities).
    Raises ``ValueError`` for an unknown strategy, a bias of the wrong shape, or if ``P + max_new_tokens``
    exceeds the model's context.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown decoding strategy {strategy!r}; use one of {STRATEGIES}")
    if stop is not None and strategy == "beam":
        raise ValueError("stop needs strategy 'sample' or 'greedy' (beam search keeps fixed-length beams)")
    b, p = prompts.shape
    total = p + max_new_tokens
    if total > model.context + 1:
        raise ValueError(f"prompt ({p}) + max_new_tokens ({max_new_tokens}) exceed the context ({model.context}) + 1")
    v = model.tok.weight.shape[0]
    if logit_bias is not None:
        logit_bias = torch.as_tensor(logit_bias, dtype=torch.float32)
        if tuple(logit_bias.shape) != (v,):
            raise ValueError(f"logit_bias must have one value per token id ({v}), got shape {tuple(logit_bias.shape)}")
    was_training = model.training
    model.eval()
    try:
        if max_new_tokens == 0:
            return prompts.new_zeros((b, 0))
        wm = None
        if watermark is not None:
            wm = _WatermarkBias(watermark, v if watermark_vocab is None else watermark_vocab, v, prompts)
        return _decode(model, prompts, max_new_tokens, strategy, temperature, top_k, top_p, repetition_penalty,
                       num_beams if strategy == "beam" else 1, banned, generator, use_cache, wm, stop, logit_bias)
    finally:
        model.train(was_training)


def _decode(model, prompts, n_new, strategy, temperature, top_k, top_p, penalty, k, banned, gen, use_cache, wm,
            stop=None, bias=None):
    b, p = prompts.shape
    v = model.tok.weight.shape[0]
    stepper = _Stepper(model, prompts, p + n_new - 1, use_cache)
    logits = stepper.start()
    track = penalty != 1.0  # which tokens a row has seen matters only to the repetition penalty
    seen = torch.zeros(b, v, dtype=torch.bool)
    if track:
        seen.scatter_(1, prompts, True)
    ban = None
    if banned:
        ban = torch.zeros(v, dtype=torch.bool)
        ban[list(banned)] = True
    out = torch.empty(b * k, n_new, dtype=torch.long)
    done = torch.zeros(b * k, dtype=torch.bool)  # rows that emitted ``stop``
    beam = strategy == "beam"
    if beam:
        stepper.expand(k)
        if wm is not None:
            wm.expand(k)
        logits = logits.repeat_interleave(k, dim=0)
        seen = seen.repeat_interleave(k, dim=0)
        scores = torch.full((b, k), float("-inf"))
        scores[:, 0] = 0.0
        base = (torch.arange(b) * k)[:, None]
    for i in range(n_new):
        logits = logits.float()
        if beam:  # scores are log-probabilities; the penalty and bans act on them, as in HF's beam search
            logits = F.log_softmax(logits, dim=-1)
        logits = apply_repetition_penalty(logits, seen, penalty)
        if ban is not None:
            logits = logits.masked_fill(ban, float("-inf"))
        if bias is not None and strategy != "sample":  # sampling adds it in filter_logits, before the temperature
            logits = logits + bias
        if wm is not None and strategy != "sample":
            logits = wm(logits)
        if beam:
            cand = (logits.view(b, k, v) + scores[..., None]).view(b, k * v)
            scores, idx = torch.topk(cand, k, dim=-1)
            rows = (base + torch.div(idx, v, rounding_mode="floor")).view(-1)
            tok = (idx % v).view(-1)
            out[:, :i] = out[rows, :i]
            if track:
                seen = seen[rows]
            stepper.reorder(rows)
            if wm is not None:
                wm.advance(tok, rows)
        elif strategy == "greedy":
            tok = logits.argmax(dim=-1)
        else:
            filtered = filter_logits(logits, temperature=temperature, top_k=top_k, top_p=top_p, bias=bias)
            if wm is not None:
                filtered = wm(filtered)
            tok = sample_rows(filtered.softmax(-1), gen)
        if wm is not None and not beam:
            wm.advance(tok)
        out[:, i] = tok
        if track:
            seen.scatter_(1, tok.view(-1, 1), True)
        if stop is not None:
            done |= tok == stop
            if bool(done.all()):
                out[:, i + 1:] = stop
                break
        if i + 1 < n_new:
            logits = stepper.advance(tok)
    if beam:  # topk returns beams sorted by score: beam 0 of each prompt is the best
        out = out.view(b, k, n_new)[:, 0]
    elif stepper.cache is not None:  # (a beam cache has num_beams times the rows the next call asks for)
        _give_cache(model, stepper.cache)
    return out
