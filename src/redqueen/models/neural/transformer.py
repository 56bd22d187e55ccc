"""A small GPT-style causal transformer with a preallocated key/value cache.

Pre-LayerNorm blocks, fused QKV projection, GELU MLP (exact erf GELU: on CPU torch's tanh
approximation is about 3x slower), learned positions, the
output projection tied to the token embedding (so the state dict has one
``tok.weight`` and no duplicate tensor, as safetensors requires). Attention is
``torch.nn.functional.scaled_dot_product_attention``, except for one-token
decoding steps (two batched matmuls over the cache). With ``last_only`` the
final block runs attention and the MLP for the last position only.

The cache is a list with one ``(keys, values)`` pair per block, each of shape
``(batch, heads, max_len, head_dim)``, filled in place: decoding one token
writes one slot instead of concatenating, and reordering beams gathers only
the filled prefix.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

Cache = list[tuple[torch.Tensor, torch.Tensor]]


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.n_heads = n_heads
        self.dropout = dropout
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, d_ff)
        self.out = nn.Linear(d_ff, d_model)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, cache: tuple[torch.Tensor, torch.Tensor] | None = None, pos: int = 0,
                last: bool = False):
        """``x`` ``(batch, t, d_model)`` -> same shape, or ``(batch, 1, d_model)`` (the last position) with ``last``.

        With ``last`` the keys and values of all ``t`` positions still go to the cache, but attention and the
        MLP run for the last position only (the final block of a prompt pass whose other outputs are dropped).
        """
        # Functional calls instead of submodule calls: decoding runs this once per token and layer, where
        # Python and dispatch overhead are a large share of the time at CPU scale.
        b, t, d = x.shape
        h = self.n_heads
        dh = d // h
        ln1, ln2 = self.ln1, self.ln2
        qkv = F.linear(F.layer_norm(x, (d,), ln1.weight, ln1.bias, ln1.eps), self.qkv.weight, self.qkv.bias)
        q, k, v = qkv.view(b, t, 3, h, dh).permute(2, 0, 3, 1, 4)
        if cache is not None:
            kb, vb = cache
            kb.narrow(2, pos, t).copy_(k)
            vb.narrow(2, pos, t).copy_(v)
            k = kb.narrow(2, 0, pos + t)
            v = vb.narrow(2, 0, pos + t)
        if last and t > 1:
            q, x, t = q[:, :, -1:], x[:, -1:], 1
            pos = k.shape[2] - 1  # the one query sees every key: no mask
        if t == 1 and not self.training:
            # One decoded token, no mask: two batched matmuls over (batch * heads) beat the fused kernel here,
            # and the result (batch * heads, 1, head_dim) is already laid out as (batch, 1, d_model).
            n = pos + 1
            s = torch.bmm(q.reshape(b * h, 1, dh), k.reshape(b * h, n, dh).transpose(1, 2))
            y = torch.bmm(s.mul_(dh**-0.5).softmax(-1), v.reshape(b * h, n, dh)).view(b, 1, d)
        else:
            mask = None
            if t > 1 and pos > 0:  # a block of new tokens after a filled cache: causal with an offset
                mask = torch.ones(t, pos + t, dtype=torch.bool).tril(diagonal=pos)
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, is_causal=(t > 1 and pos == 0),
                dropout_p=self.dropout if self.training else 0.0,
            ).transpose(1, 2).reshape(b, t, d)
        a = F.linear(y, self.proj.weight, self.proj.bias)
        drop = self.training and self.dropout > 0
        if not (drop or torch.is_grad_enabled()):
            # Inference: update in place, so the prompt pass allocates (and page-faults) fewer large temporaries.
            x = a.add_(x)
            f = F.linear(F.layer_norm(x, (d,), ln2.weight, ln2.bias, ln2.eps), self.fc.weight, self.fc.bias)
            f = F.gelu(f) if t == 1 else torch.ops.aten.gelu_(f)  # in place only pays for large blocks
            return F.linear(f, self.out.weight, self.out.bias).add_(x)
        x = x + (self.drop(a) if drop else a)
        m = F.linear(F.gelu(F.linear(F.layer_norm(x, (d,), ln2.weight, ln2.bias, ln2.eps), self.fc.weight,
                                     self.fc.bias)), self.out.weight, self.out.bias)
        return x + (self.drop(m) if drop else m)


class CausalTransformer(nn.Module):
    """Token ids ``(batch, T)`` -> next-token logits ``(batch, T, vocab_size)`` (or ``(batch, 1, V)`` with ``last_only``)."""

    def __init__(self, *, vocab_size: int, d_model: int, n_layers: int, n_heads: int, context: int, d_ff: int,
                 dropout: float = 0.0):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}")
        self.context = context
        self.n_heads = n_heads
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(context, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, d_ff, dropout) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def init_weights(self, gen: torch.Generator) -> None:
        """GPT-2 initialisation from a private generator: N(0, 0.02), residual projections scaled by 1/sqrt(2L)."""
        resid = 0.02 / math.sqrt(2 * max(len(self.blocks), 1))
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.startswith("ln") or ".ln" in name:
                    p.fill_(1.0 if name.endswith("weight") else 0.0)
                elif name.endswith("bias"):
                    p.zero_()
                else:
                    std = resid if name.endswith(("proj.weight", "out.weight")) else 0.02
                    p.normal_(0.0, std, generator=gen)

    def new_cache(self, batch: int, length: int) -> Cache:
        d = self.tok.weight.shape[1]
        shape = (batch, self.n_heads, length, d // self.n_heads)
        dt = self.tok.weight.dtype
        return [(torch.empty(shape, dtype=dt), torch.empty(shape, dtype=dt)) for _ in self.blocks]

    def one_token_step(self, cache: Cache) -> "OneTokenStep":
        """A fast callable for one-token decoding steps over ``cache`` (see :class:`OneTokenStep`)."""
        return OneTokenStep(self, cache)

    def forward(self, idx: torch.Tensor, cache: Cache | None = None, pos: int = 0, last_only: bool = False,
                head: bool = True):
        """Logits, or with ``head=False`` the final LayerNorm's output ``(batch, T, d_model)``.

        (``head=False`` lets training apply the tied head ``tok.weight`` a block of positions at a time.)
        """
        t = idx.shape[1]
        if pos + t > self.context:
            raise ValueError(f"{pos + t} positions exceed the model's context of {self.context}")
        x = F.embedding(idx, self.tok.weight) + self.pos.weight[pos : pos + t]
        if self.training and isinstance(self.drop, nn.Dropout):
            x = self.drop(x)
        # block.forward rather than block(...): skips nn.Module's hook machinery, which costs a few
        # microseconds per call and so a measurable share of a one-token decoding step.
        final = self.blocks[-1] if len(self.blocks) else None
        if cache is None:
            for block in self.blocks:
                x = block.forward(x, None, 0, last_only and block is final)
        else:
            for block, c in zip(self.blocks, cache):
                x = block.forward(x, c, pos, last_only and block is final)
        if last_only:
            x = x[:, -1:]
        ln = self.ln_f
        x = F.layer_norm(x, ln.normalized_shape, ln.weight, ln.bias, ln.eps)
        return F.linear(x, self.tok.weight) if head else x


class OneTokenStep:
    """Decoding steps over a :meth:`CausalTransformer.new_cache` cache: ``tokens`` ``(B,)`` -> logits ``(B, V)``.

    The same math as ``model(tokens[:, None], cache, pos)[:, -1]`` in eval mode, with the per-step Python
    work cut down: the weights of every block are looked up once (tuples), the fused QKV
    projection writes into one reused buffer whose key, value and query views are made once, and each
    block's cache is viewed once as ``(batch * heads, head_dim, max_len)`` keys and
    ``(batch * heads, max_len, head_dim)`` values, so a step slices the filled prefix and runs two batched
    matmuls. At the benchmark's size this made greedy decoding ~8% and sampling ~12% faster: a step's work
    is small enough (32 rows) that dispatch overhead is a large share of it. The cache is written in place;
    reordering its rows in place (beam search) keeps the views valid, replacing its tensors needs a new step
    object. The weight matrices are copied once, transposed to ``(in, out)`` (as GPT-2's ``Conv1D`` stores
    them): MKL's small-batch matmuls read that layout faster (~4% of a greedy decode). So a step object
    holds a snapshot of the weights: make a new one after they change. No dropout: for inference only.
    """

    def __init__(self, model: "CausalTransformer", cache: Cache):
        d = model.tok.weight.shape[1]
        h = model.n_heads
        dh = d // h
        b, _, length, _ = cache[0][0].shape
        self.batch, self.d_model, self.cache = b, d, cache
        self.scale = dh**-0.5
        self.tok, self.pos = model.tok.weight, model.pos.weight
        self.head = _input_major(model.tok.weight)
        ln = model.ln_f
        self.ln_f = (ln.weight, ln.bias, ln.eps)
        dt = model.tok.weight.dtype
        self.qkv = torch.empty(b, 3 * d, dtype=dt)
        self.q = torch.empty(b * h, 1, dh, dtype=dt)
        q, k, v = self.qkv.view(b, 3, h, dh).unbind(1)  # views of the buffer, (b, h, dh) each
        self.q_src, self.k_src, self.v_src = q.unsqueeze(2), k, v
        self.q_dst = self.q.view(b, h, 1, dh)
        im = _input_major
        self.blocks = [
            (blk.ln1.weight, blk.ln1.bias, blk.ln1.eps, im(blk.qkv.weight), blk.qkv.bias, im(blk.proj.weight),
             blk.proj.bias, blk.ln2.weight, blk.ln2.bias, blk.ln2.eps, im(blk.fc.weight), blk.fc.bias,
             im(blk.out.weight), blk.out.bias, kb, vb, kb.view(b * h, length, dh).transpose(1, 2),
             vb.view(b * h, length, dh))
            for blk, (kb, vb) in zip(model.blocks, cache)
        ]

    def __call__(self, tokens: torch.Tensor, pos: int) -> torch.Tensor:
        b, shape, n = self.batch, (self.d_model,), pos + 1
        qkv, q, scale = self.qkv, self.q, self.scale
        q_src, k_src, v_src, q_dst = self.q_src, self.k_src, self.v_src, self.q_dst
        ln, addmm, bmm = F.layer_norm, torch.addmm, torch.bmm
        x = F.embedding(tokens, self.tok).add_(self.pos[pos])
        for l1w, l1b, l1e, wqkv, bqkv, wp, bp, l2w, l2b, l2e, wfc, bfc, wo, bo, kb, vb, kt, vf in self.blocks:
            addmm(bqkv, ln(x, shape, l1w, l1b, l1e), wqkv, out=qkv)
            kb.select(2, pos).copy_(k_src)
            vb.select(2, pos).copy_(v_src)
            q_dst.copy_(q_src)
            s = bmm(q, kt[:, :, :n]).mul_(scale)  # scale the scores, as the fused kernel does
            x = addmm(bp, bmm(s.softmax(-1), vf[:, :n]).view(b, -1), wp).add_(x)
            x = addmm(bo, F.gelu(addmm(bfc, ln(x, shape, l2w, l2b, l2e), wfc)), wo).add_(x)
        w, bias, eps = self.ln_f
        return torch.mm(ln(x, shape, w, bias, eps), self.head)


def _input_major(w: torch.Tensor) -> torch.Tensor:
    """A ``(out, in)`` weight as a contiguous ``(in, out)`` copy."""
    return w.t().contiguous()


def reorder_cache(cache: Cache, rows: torch.Tensor, start: int, filled: int) -> None:
    """Gather cache rows in place (beam search): row ``i`` becomes old row ``rows[i]`` in slots ``start:filled``.

    Beams of one prompt share the prompt's slots, so beam search passes the
    prompt length as ``start`` and only the generated slots move.
    """
    if filled <= start:
        return
    for kb, vb in cache:
        kb[:, :, start:filled] = kb[:, :, start:filled].index_select(0, rows)
        vb[:, :, start:filled] = vb[:, :, start:filled].index_select(0, rows)
