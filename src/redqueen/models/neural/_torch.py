"""Small torch helpers shared by the neural families: seeds, state dicts, genomes.

Randomness never touches torch's global generator for good: every fit and
every sample draws one integer seed from the caller's numpy ``Generator``;
that seed makes a private ``torch.Generator`` (initialisation, sampling)
and seeds torch's global generator only inside :func:`forked_rng`, which
restores it afterwards (dropout draws from the global generator).
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch

SEED_MAX = 2**63 - 1


def draw_seed(rng: np.random.Generator) -> int:
    """One integer seed from the caller's generator (advances it by one draw)."""
    return int(rng.integers(SEED_MAX))


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


@contextlib.contextmanager
def forked_rng(seed: int):
    """Run a block with torch's global generator seeded by ``seed``, restoring it after."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def state_to_numpy(module: torch.nn.Module) -> dict[str, np.ndarray]:
    """The module's state dict (persistent parameters and buffers) as float32 numpy copies."""
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def load_numpy_state(module: torch.nn.Module, state: dict[str, np.ndarray]) -> None:
    """Copy a dict of numpy arrays into the module; raises ``KeyError``/``ValueError`` on a mismatch."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    if missing or extra:
        raise KeyError(f"state does not match the model: missing {missing[:4]}, unexpected {extra[:4]}")
    with torch.no_grad():
        for k, t in own.items():
            a = np.asarray(state[k])
            if tuple(a.shape) != tuple(t.shape):
                raise ValueError(f"state[{k!r}] has shape {a.shape}, the model expects {tuple(t.shape)}")
            if a.dtype.kind == "f" and not np.isfinite(a).all():
                raise ValueError(f"state[{k!r}] holds non-finite weights")
            t.copy_(torch.from_numpy(np.ascontiguousarray(a)).to(t.dtype))
