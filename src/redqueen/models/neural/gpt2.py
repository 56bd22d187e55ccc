"""GPT-2-layout weights into :class:`CausalTransformer`, whose architecture is GPT-2's (pre-LN,
erf GELU, tied embeddings, learned positions).

Used to check the model and its decoders against Hugging Face transformers token for token, and to
start from a GPT-2-shaped state dict already on disk (nothing is downloaded). Hugging Face's
``Conv1D`` stores weights as ``(in, out)``; ``nn.Linear`` as ``(out, in)``, hence the transposes.
"""

from __future__ import annotations

import torch

_TOP = {"tok.weight": "transformer.wte.weight", "pos.weight": "transformer.wpe.weight",
        "ln_f.weight": "transformer.ln_f.weight", "ln_f.bias": "transformer.ln_f.bias"}
_BLOCK = {"ln1": "ln_1", "qkv": "attn.c_attn", "proj": "attn.c_proj", "ln2": "ln_2", "fc": "mlp.c_fc",
          "out": "mlp.c_proj"}


def from_gpt2(gpt2_state: dict[str, torch.Tensor], ours_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict for a :class:`CausalTransformer` (``ours_state`` gives its keys and shapes) made
    from a Hugging Face ``GPT2LMHeadModel`` state dict of the same shape. A larger GPT-2 token table
    is cut to the model's vocabulary. Raises KeyError for a missing GPT-2 key, ValueError for a
    shape that does not fit."""
    out = {}
    for key, like in ours_state.items():
        if key in _TOP:
            src = gpt2_state[_TOP[key]]
            src = src[: like.shape[0]] if key == "tok.weight" else src
        else:
            _, i, mod, kind = key.split(".")
            src = gpt2_state[f"transformer.h.{i}.{_BLOCK[mod]}.{kind}"]
            src = src.t() if kind == "weight" and mod not in ("ln1", "ln2") else src
        if src.shape != like.shape:
            raise ValueError(f"{key}: GPT-2 weights have shape {tuple(src.shape)}, the model needs {tuple(like.shape)}")
        out[key] = src.detach().clone().contiguous()
    return out
