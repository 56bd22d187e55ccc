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
