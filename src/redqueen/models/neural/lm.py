"""The transformer language-model family over :class:`~redqueen.data.Sequences` (Shumailov et al. 2024, at CPU scale).

Token ids ``0..V-1`` come from the data's :class:`~redqueen.data.Vocabulary`;
the model adds one id, ``V``, as a begin-of-sequence marker: training sees
every sequence as ``[BOS] + tokens`` concatenated into one stream and cut
into random windows of ``context + 1`` tokens; ``log_prob`` scores each
sequence after a ``BOS``; generation never emits ``BOS``.

``end_token``: the ``BOS`` that follows every training sequence in the stream
is also its end, so the model learns where sequences stop. With
``end_token=True`` generation may emit it, and a sample ends there (at most
``max_new_tokens`` tokens, as the n-gram family's ``max_len``): samples have the
real data's varying lengths. ``log_prob`` then scores the end event too, except
after a sequence of the cut length or more (sampling cuts it there, so it never
ends by the model's choice), exactly as the n-gram family scores its end
symbol; perplexities stay per token. With ``end_token=False`` (the default, as
Shumailov et al.'s fixed 64-token continuations) every sample runs to
``max_new_tokens`` and ``BOS`` has probability 0 everywhere.

Sampling follows the paper's setup: each new item is a continuation of
``max_new_tokens`` tokens of a ``prompt_len``-token prompt (the first tokens
of a sequence of the ``prompts`` hyperparameter when given, as the paper's
prompts from the original training set, else of the data the model was fitted
on; without prompts long enough, generation starts from ``BOS`` alone). With
``keep_prompt`` the prompt is kept in front of the continuation.

Warm start (fine-tune the previous generation instead of training from
scratch): pass the previous model's ``state()`` as ``init_state``; ``fit`` then
starts from those weights (same architecture and vocabulary) instead of a
random initialisation. ``get_params()`` returns the hyperparameters, so a
warm-started copy is ``TransformerLMFamily(**{**f.get_params(), "init_state": f.state()})``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from redqueen.data import Sequences, Vocabulary
from redqueen.models.base import Degenerate, WeightGenome
from redqueen.models.decoding import check_logit_bias
from redqueen.models.neural import _torch as T
from redqueen.models.neural.generate import STRATEGIES, filter_logits, generate
from redqueen.models.neural.transformer import CausalTransformer
from redqueen.watermark.scheme import as_watermark


class _CrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of ``(N, V)`` logits against ``(N,)`` targets, as ``F.cross_entropy``, with a leaner backward.

    The built-in backward materialises a zero ``(N, V)`` gradient for the NLL and then runs the general
    log-softmax backward over it; the gradient is just ``(softmax - onehot) / N``: one exp pass and a scatter.
    At this model's size (N = 4,096, V = 2,049) that saves about a fifth of the loss's time per step.
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(logits, -1)
        ctx.save_for_backward(logp, target)
        return -logp.gather(1, target[:, None]).mean()

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        logp, target = ctx.saved_tensors
        n = logp.shape[0]
        scale = g / n
        grad = logp.exp().mul_(scale)
        grad.scatter_add_(1, target[:, None], (-scale).expand(n, 1))
        return grad, None


def _cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return _CrossEntropy.apply(logits, target)


_HEAD_ROWS = 512


def _head_loss(x: torch.Tensor, weight: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy of hidden states ``x`` ``(B, T, d)`` through the tied head ``weight`` ``(V, d)``.

    The logits go ``_HEAD_ROWS`` positions at a time: a whole batch's ``(B * T, V)`` logits (33 MB at the
    benchmark's size) and their log-softmax and gradient are each above glibc's largest mmap threshold (32 MB),
    so every step mapped fresh pages for them and page-faulted ~15,000 times (~5% of a step); blocks this size
    are reused from the heap.
    """
    x = x.reshape(-1, x.shape[-1])
    target = target.reshape(-1)
    n = x.shape[0]
    total = None
    for s in range(0, n, _HEAD_ROWS):
        part = _CrossEntropy.apply(F.linear(x[s : s + _HEAD_ROWS], weight), target[s : s + _HEAD_ROWS])
        part = part * (min(_HEAD_ROWS, n - s) / n)
        total = part if total is None else total + part
    return total


class TransformerLMFamily(WeightGenome):
    """Small causal transformer trained from scratch with AdamW (about 1M non-embedding parameters by default).

    Architecture: ``d_model``, ``n_layers``, ``n_heads``, ``d_ff`` (default
    ``4 * d_model``), ``context`` (maximum positions), ``dropout``.
    Training: ``steps`` AdamW steps of ``batch_size`` windows, or, when
    ``steps`` is None, enough steps for ``epochs`` passes over the training
    tokens; fused AdamW at ``lr`` with linear warmup over the first ``warmup`` fraction then
    cosine decay to ``lr / 10``; ``weight_decay`` on matrices only;
    ``grad_clip`` on the global norm.
    Sampling: ``decoding`` in ``"sample"``, ``"greedy"``, ``"beam"``;
    ``temperature``, ``top_k``, ``top_p`` (sampling only), ``num_beams`` (beam
    only), ``repetition_penalty`` (all), ``sample_batch_size`` prompts at a time.
    ``watermark`` (a :class:`~redqueen.watermark.Watermark` or a dict of its
    fields): Kirchenbauer et al.'s green-list bias over the data vocabulary at
    every decoding step, as Hugging Face applies it (see
    :mod:`redqueen.models.neural.generate`); like temperature it is a decoding
    bias, so ``log_prob`` still scores the trained network (``decoded_log_prob``
    scores with temperature, top-k and top-p in force). ``logit_bias`` (``V + 1`` floats: one per data token
    and the end symbol last, as the n-gram family's) is added to every step's logits before the temperature,
    ``softmax((logits + b) / T)``; ``decoded_log_prob`` scores with it too.
    """

    def __init__(
        self, *, d_model: int = 128, n_layers: int = 5, n_heads: int = 4, d_ff: int | None = None,
        context: int = 256, dropout: float = 0.0,
        steps: int | None = None, epochs: float = 1.0, batch_size: int = 32, lr: float = 1e-3,
        weight_decay: float = 0.1, warmup: float = 0.05, grad_clip: float = 1.0,
        prompt_len: int = 64, max_new_tokens: int = 64, keep_prompt: bool = False, prompts: Sequences | None = None,
        decoding: str = "sample", num_beams: int = 5, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
        repetition_penalty: float = 1.0, sample_batch_size: int = 64, eval_batch_size: int = 64,
        init_state: dict[str, np.ndarray] | None = None, watermark=None, end_token: bool = False, logit_bias=None,
    ):
        if decoding not in STRATEGIES:
            raise ValueError(f"decoding={decoding!r} is not one of {STRATEGIES}")
        if end_token and decoding == "beam":
            raise ValueError("end_token needs decoding 'sample' or 'greedy' (beam search keeps fixed-length beams)")
        self.d_model = d_model
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.d_ff = d_ff
        self.context = context
        self.dropout = dropout
        self.steps = steps
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup = warmup
        self.grad_clip = grad_clip
        self.prompt_len = prompt_len
        self.max_new_tokens = max_new_tokens
        self.keep_prompt = keep_prompt
        self.prompts = prompts
        self.decoding = decoding
        self.num_beams = num_beams
        self.temperature = temperature
        self.top_k = top_k
        self.top_p = top_p
        self.repetition_penalty = repetition_penalty
        self.sample_batch_size = sample_batch_size
        self.eval_batch_size = eval_batch_size
        self.init_state = init_state
        self.watermark = watermark
        self.end_token = end_token
        self.logit_bias = logit_bias

    _PARAMS = (
        "d_model", "n_layers", "n_heads", "d_ff", "context", "dropout", "steps", "epochs", "batch_size", "lr",
        "weight_decay", "warmup", "grad_clip", "prompt_len", "max_new_tokens", "keep_prompt", "prompts", "decoding",
        "num_beams", "temperature", "top_k", "top_p", "repetition_penalty", "sample_batch_size", "eval_batch_size",
        "init_state", "watermark", "end_token", "logit_bias",
    )

    def get_params(self) -> dict:
        """The constructor's keyword arguments as stored."""
        return {k: getattr(self, k) for k in self._PARAMS}

    # -- model construction -------------------------------------------------
    def _build(self, vocab_size: int) -> CausalTransformer:
        return CausalTransformer(
            vocab_size=vocab_size, d_model=self.d_model, n_layers=self.n_layers, n_heads=self.n_heads,
            context=self.context, d_ff=self.d_ff or 4 * self.d_model, dropout=self.dropout,
        )

    def n_parameters(self, vocab_size: int, *, embeddings: bool = True) -> int:
        """Parameter count for ``vocab_size`` data tokens (plus BOS); without token embeddings if ``embeddings=False``."""
        m = self._build(vocab_size + 1)
        total = sum(p.numel() for p in m.parameters())
        return total if embeddings else total - m.tok.weight.numel()

    def _prompt_pool(self, data: Sequences | None) -> np.ndarray:
        src = self.prompts if self.prompts is not None else data
        if src is None or self.prompt_len <= 0:
            return np.zeros((0, 0), np.int64)
        long = np.flatnonzero(src.lengths() >= self.prompt_len)
        starts = src.offsets[long]
        return src.tokens[starts[:, None] + np.arange(self.prompt_len)].astype(np.int64)

    # -- Family protocol ----------------------------------------------------
    def fit(self, data: Sequences, rng: np.random.Generator) -> "TransformerLMFamily":
        """Train on ``data`` (``n`` sequences); ``rng`` seeds initialisation, window order and dropout."""
        self.vocab_ = data.vocab
        v = len(data.vocab)
        self.bos_ = v
        self.prompts_ = self._prompt_pool(data)
        seed = T.draw_seed(rng)
        self.model_ = self._build(v + 1)
        if self.init_state is not None:
            from redqueen.evolve.genome import parameters

            T.load_numpy_state(self.model_, parameters(self.init_state))
        else:
            self.model_.init_weights(T.generator(seed))
        stream = np.insert(data.tokens.astype(np.int64), data.offsets[:-1], v)
        if stream.shape[0] < 2:
            raise Degenerate("cannot fit a language model to no sequences at all; give it at least one")
        width = min(self.context, stream.shape[0] - 1)
        steps = self.steps
        if steps is None:
            steps = max(1, math.ceil(self.epochs * stream.shape[0] / (self.batch_size * width)))
        self.losses_ = self._train(torch.from_numpy(stream), width, steps, np.random.default_rng(seed), seed)
        return self

    def _train(self, stream: torch.Tensor, width: int, steps: int, brng: np.random.Generator, seed: int) -> np.ndarray:
        model = self.model_
        decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
        no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.lr, betas=(0.9, 0.95), fused=True,
        )
        warm = max(1, int(self.warmup * steps))

        def lr_at(i: int) -> float:
            if i < warm:
                return self.lr * (i + 1) / warm
            frac = (i - warm) / max(1, steps - warm)
            return self.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))

        offs = torch.arange(width + 1)
        losses = np.empty(steps, np.float32)
        model.train()
        with T.forked_rng(seed):
            for i in range(steps):
                starts = torch.from_numpy(brng.integers(0, stream.shape[0] - width, self.batch_size))
                batch = stream[starts[:, None] + offs]
                loss = _head_loss(model(batch[:, :-1], head=False), model.tok.weight, batch[:, 1:])
                for g in opt.param_groups:
                    g["lr"] = lr_at(i)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if self.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
                opt.step()
                losses[i] = loss.item()
        model.eval()
        return losses

    def sample(self, n: int, rng: np.random.Generator) -> Sequences:
        """``n`` continuations of ``max_new_tokens`` tokens (``prompt_len`` more with ``keep_prompt``); with
        ``end_token``, each ends where the model emits the end (``BOS``), at most ``max_new_tokens`` tokens."""
        gen = T.generator(T.draw_seed(rng))
        pool = self.prompts_
        if pool.shape[0] and pool.shape[1]:
            idx = rng.choice(pool.shape[0], n, replace=n > pool.shape[0])
            prompts = np.concatenate([np.full((n, 1), self.bos_, np.int64), pool[idx]], axis=1)
        else:
            prompts = np.full((n, 1), self.bos_, np.int64)
        outs = []
        wm = as_watermark(self.watermark)
        bias = self._bias()
        for s in range(0, n, self.sample_batch_size):
            p = torch.from_numpy(prompts[s : s + self.sample_batch_size])
            cont = generate(
                self.model_, p, self.max_new_tokens, strategy=self.decoding, temperature=self.temperature,
                top_k=self.top_k, top_p=self.top_p, repetition_penalty=self.repetition_penalty,
                num_beams=self.num_beams, banned=() if self.end_token else (self.bos_,), generator=gen, watermark=wm,
                watermark_vocab=self.bos_, stop=self.bos_ if self.end_token else None, logit_bias=bias,
            )
            outs.append(torch.cat([p[:, 1:], cont], dim=1) if self.keep_prompt else cont)
        toks = torch.cat(outs).numpy() if outs else np.zeros((0, self.max_new_tokens), np.int64)
        width = toks.shape[1]
        if not self.end_token:
            return Sequences(toks.reshape(-1), np.arange(n + 1, dtype=np.int64) * width, self.vocab_)
        ended = toks == self.bos_  # (a kept prompt is data tokens: never BOS)
        lengths = np.where(ended.any(axis=1), ended.argmax(axis=1), width)
        keep = np.arange(width)[None, :] < lengths[:, None]
        return Sequences(toks[keep], np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64), self.vocab_)

    def _cut(self) -> int:
        """The longest sample :meth:`sample` emits: ``max_new_tokens``, plus the prompt's length when it is kept."""
        pool = self.prompts_
        return self.max_new_tokens + (pool.shape[1] if self.keep_prompt and pool.shape[0] else 0)

    def next_tokens(self, prefixes: Sequences, rng: np.random.Generator) -> np.ndarray:
        """One sampled next token after each of ``prefixes`` (its last ``context - 1`` tokens after BOS); (n,) int64.

        Sampling as the family decodes (temperature, top-k, top-p, repetition penalty, watermark), whatever
        ``decoding`` says: what a paraphrase needs.
        """
        gen = T.generator(T.draw_seed(rng))
        lengths = prefixes.lengths()
        out = np.empty(len(prefixes), np.int64)
        wm = as_watermark(self.watermark)
        bias = self._bias()
        for length in np.unique(lengths):
            rows = np.flatnonzero(lengths == length)
            keep = min(int(length), self.context - 1)
            x = np.full((rows.size, keep + 1), self.bos_, np.int64)
            if keep:
                x[:, 1:] = prefixes.tokens[prefixes.offsets[1:][rows, None] - keep + np.arange(keep)]
            for s in range(0, rows.size, self.sample_batch_size):
                part = torch.from_numpy(x[s:s + self.sample_batch_size])
                out[rows[s:s + self.sample_batch_size]] = generate(
                    self.model_, part, 1, strategy="sample", temperature=self.temperature, top_k=self.top_k,
                    top_p=self.top_p, repetition_penalty=self.repetition_penalty, banned=(self.bos_,), generator=gen,
                    watermark=wm, watermark_vocab=self.bos_, logit_bias=bias).numpy()[:, 0]
        return out

    def _bias(self) -> torch.Tensor | None:
        """``logit_bias`` as the float32 ``(V + 1,)`` tensor decoding adds (the end symbol, ``BOS``, last); None
        without one. Raises ``ValueError`` naming the length it needs."""
        if self.logit_bias is None:
            return None
        b = check_logit_bias(self.logit_bias, self.bos_ + 1, "one per token, the end symbol last")
        return torch.from_numpy(b.astype(np.float32))

    def log_prob(self, data: Sequences) -> np.ndarray:
        """Total natural-log probability of each sequence given ``BOS`` under the trained network; shape ``(n,)``,
        float64 (decoding biases aside: :meth:`decoded_log_prob` scores with them).

        Without ``end_token``, next-token distributions exclude ``BOS`` (which sampling never emits), so
        over all sequences of one length the probabilities sum to 1. With it, the end event after
        the last token is scored too (not after sequences of :meth:`_cut` tokens or more, which
        sampling cuts), so over all sequences the probabilities sum to 1.

        Sequences longer than the context are scored with a sliding window
        (half-context stride, each token scored once with at least half a
        context of history).
        """
        return self._log_prob(data, decoded=False)

    def decoded_log_prob(self, data: Sequences) -> np.ndarray:
        """:meth:`log_prob` under the next-token distribution sampling draws from: with ``decoding = "sample"``,
        the network's logits through ``temperature``, ``top_k`` and ``top_p`` (a token they remove scores
        ``-inf``); other decodings, and the history-dependent repetition penalty and watermark, are not in it. What
        a sampling gene costs in likelihood of real text (the arena's fidelity)."""
        return self._log_prob(data, decoded=True)

    @torch.inference_mode()
    def _log_prob(self, data: Sequences, decoded: bool) -> np.ndarray:
        model = self.model_
        model.eval()
        lengths = data.lengths()
        out = np.zeros(len(data), np.float64)
        # events scored per sequence: its tokens, then (with end_token, below the cut) its end, the BOS after it
        events = lengths + (lengths < self._cut()) if self.end_token else lengths
        fits = np.flatnonzero(events <= self.context)
        order = fits[np.argsort(events[fits], kind="stable")]
        for s in range(0, order.shape[0], self.eval_batch_size):
            rows = order[s : s + self.eval_batch_size]
            lens = events[rows]
            width = int(lens.max()) if rows.size else 0
            if width == 0:
                continue
            x = np.full((rows.size, width + 1), self.bos_, np.int64)  # the BOS after a sequence is its end
            mask = np.arange(width)[None, :] < lens[:, None]
            for j, r in enumerate(rows):
                x[j, 1 : lengths[r] + 1] = data[r]
            out[rows] = self._score(torch.from_numpy(x), torch.from_numpy(mask), decoded).numpy()
        for r in np.flatnonzero(events > self.context):
            end = np.asarray([self.bos_] if events[r] > lengths[r] else [], np.int64)
            out[r] = self._score_long(np.concatenate([[self.bos_], data[r].astype(np.int64), end]), decoded)
        return out

    def _score(self, x: torch.Tensor, mask: torch.Tensor, decoded: bool = False) -> torch.Tensor:
        logits = self.model_(x[:, :-1]).float()
        if not self.end_token:
            logits[..., self.bos_] = float("-inf")  # generation never emits BOS: score the distribution it samples
        if decoded and self.decoding == "sample":
            logits = filter_logits(logits, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p,
                                   bias=self._bias())
        logp = F.log_softmax(logits, dim=-1)
        tok = logp.gather(-1, x[:, 1:, None]).squeeze(-1)
        return torch.where(mask, tok, 0.0).sum(dim=1).double()

    def _score_long(self, x: np.ndarray, decoded: bool = False) -> float:
        c = self.context
        stride = max(1, c // 2)
        total = self._score(torch.from_numpy(x[None, : c + 1]), torch.ones(1, c, dtype=torch.bool), decoded).item()
        end = c + 1
        while end < x.shape[0]:
            new = min(stride, x.shape[0] - end)
            win = x[end + new - c - 1 : end + new]
            mask = torch.zeros(1, c, dtype=torch.bool)
            mask[0, c - new :] = True
            total += self._score(torch.from_numpy(win[None]), mask, decoded).item()
            end += new
        return total

    # -- state and genome ---------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        """Parameters keyed as in the torch ``state_dict`` (``tok.weight``, ``blocks.0.qkv.weight``, ...), float32,
        and, when the ``prompts`` hyperparameter is not given, ``fixed.prompts``: the pool of prompts that
        sampling draws from, taken from the training data, which a restored model must carry (int64)."""
        from redqueen.evolve.genome import FIXED

        state = T.state_to_numpy(self.model_)
        if self.prompts is None:
            state[FIXED + "prompts"] = np.asarray(self.prompts_, dtype=np.int64)
        return state

    def load_state(self, state: dict[str, np.ndarray]) -> "TransformerLMFamily":
        """Rebuild the model from ``state`` (vocabulary size read from ``tok.weight``); raises on a shape mismatch.
        Without ``fixed.prompts`` (a genome's state) the model keeps the pool it has."""
        from redqueen.evolve.genome import FIXED

        state = dict(state)
        pool = state.pop(FIXED + "prompts", None)
        v = int(np.asarray(state["tok.weight"]).shape[0]) - 1
        self.model_ = self._build(v + 1)
        T.load_numpy_state(self.model_, state)
        if pool is not None:
            pool = np.asarray(pool)
            if pool.ndim != 2 or pool.dtype.kind not in "iu" or (pool.size and not 0 <= pool.min() <= pool.max() < v):
                raise ValueError(f"prompt pool of shape {pool.shape} ({pool.dtype}) does not fit a vocabulary of {v}")
            self.prompts_ = pool.astype(np.int64)
        self.model_.eval()
        self.bos_ = v
        vocab = getattr(self, "vocab_", None)
        if vocab is None or len(vocab) != v:
            vocab = self.prompts.vocab if self.prompts is not None else Vocabulary(tuple(str(i) for i in range(v)))
        self.vocab_ = vocab
        if not hasattr(self, "prompts_"):
            self.prompts_ = self._prompt_pool(None)
        return self

