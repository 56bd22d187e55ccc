"""A model's parameters as one flat float32 vector (its genome), and back.

:func:`flatten` turns a dict of numpy arrays (or torch tensors), or a torch
``nn.Module``, into a ``(d,)`` float32 vector and a :class:`Layout` recording
each tensor's name, shape and offset; :func:`unflatten` inverts it. Operators
that work per tensor (SVD mutation, per-tensor TIES) read the layout.
torch is imported lazily, only when a torch object is passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np


@dataclass(frozen=True)
class Layout:
    """Names, shapes and offsets of the tensors packed into a genome.

    Tensor ``names[i]`` of shape ``shapes[i]`` occupies
    ``vec[offsets[i]:offsets[i + 1]]`` in row-major (C) order;
    ``offsets`` has ``len(names) + 1`` entries, the last being :attr:`size`.
    """

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    offsets: tuple[int, ...]

    @classmethod
    def from_shapes(cls, shapes: Mapping[str, tuple[int, ...]]) -> "Layout":
        """The layout of tensors of these shapes packed in the mapping's order."""
        names = tuple(shapes)
        shp = tuple(tuple(int(s) for s in shapes[n]) for n in names)
        sizes = [int(np.prod(s, dtype=np.int64)) for s in shp]
        return cls(names, shp, tuple(int(o) for o in np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])))

    @property
    def size(self) -> int:
        """Genome length ``d``."""
        return self.offsets[-1]

    def __len__(self) -> int:
        return len(self.names)

    def slice(self, name: str) -> slice:
        """Where tensor ``name`` lives in the genome; raises ``KeyError`` if unknown."""
        i = self.names.index(name) if name in self.names else None
        if i is None:
            raise KeyError(f"no tensor {name!r} in layout; have {list(self.names)}")
        return slice(self.offsets[i], self.offsets[i + 1])

    def items(self) -> Iterator[tuple[str, tuple[int, ...], slice]]:
        """``(name, shape, slice)`` for every tensor, in genome order."""
        for i, name in enumerate(self.names):
            yield name, self.shapes[i], slice(self.offsets[i], self.offsets[i + 1])

    def views(self, vec: np.ndarray) -> dict[str, np.ndarray]:
        """Reshaped views (no copy) of a ``(d,)`` genome, or of a ``(..., d)`` batch (shapes ``(..., *shape)``)."""
        lead = vec.shape[:-1]
        return {name: vec[..., sl].reshape((*lead, *shape)) for name, shape, sl in self.items()}


def _is_torch(obj: Any) -> bool:
    return type(obj).__module__.startswith("torch")


def _named_arrays(params: Any) -> dict[str, np.ndarray]:
    if hasattr(params, "named_parameters") and callable(params.named_parameters):  # torch nn.Module
        return {n: p.detach().cpu().numpy() for n, p in params.named_parameters()}
    if isinstance(params, Mapping):
        out = {}
        for n, a in params.items():
            if _is_torch(a):
                a = a.detach().cpu().numpy()
            out[str(n)] = np.asarray(a)
        return out
    raise TypeError(f"flatten() takes a dict of arrays or a torch nn.Module, not {type(params).__name__}")


def flatten(params: Any) -> tuple[np.ndarray, Layout]:
    """Pack parameters into one genome.

    ``params`` is a mapping name -> array (numpy or torch) or a torch
    ``nn.Module`` (its ``named_parameters()``). Returns a new ``(d,)`` float32
    vector and the :class:`Layout` to undo it. Raises ``TypeError`` for other
    inputs.
    """
    arrays = _named_arrays(params)
    layout = Layout.from_shapes({n: a.shape for n, a in arrays.items()})
    vec = np.empty(layout.size, dtype=np.float32)
    for name, _, sl in layout.items():
        vec[sl] = arrays[name].ravel()
    return vec, layout


def unflatten(vec: np.ndarray, layout: Layout, into: Any = None) -> dict[str, np.ndarray]:
    """Unpack a ``(d,)`` genome into ``{name: array of its shape}`` (float32 copies).

    With ``into`` a torch ``nn.Module`` whose parameters match ``layout``, the
    values are also copied into its parameters in place. Raises
    ``ValueError`` if ``vec`` has the wrong length.
    """
    vec = np.asarray(vec, dtype=np.float32)
    if vec.shape != (layout.size,):
        raise ValueError(f"genome has shape {vec.shape}, layout needs ({layout.size},)")
    out = {name: vec[sl].reshape(shape).copy() for name, shape, sl in layout.items()}
    if into is not None:
        import torch

        with torch.no_grad():
            for name, p in into.named_parameters():
                p.copy_(torch.from_numpy(out[name]).to(dtype=p.dtype, device=p.device))
    return out


def family_genome(model) -> tuple[np.ndarray, Layout]:
    """A fitted family's float parameters (its ``state()``, in order) as a float32 genome and its layout."""
    return flatten(model.state())


def set_family_genome(model, vec: np.ndarray, layout: Layout):
    """Load a genome back into a fitted family through ``load_state``; returns the model.

    Raises ``ValueError`` if ``vec`` does not fit ``layout``.
    """
    return model.load_state(unflatten(vec, layout))
