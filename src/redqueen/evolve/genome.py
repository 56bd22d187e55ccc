"""A model's parameters as one flat float vector (its genome), and back.

:func:`flatten` turns a dict of numpy arrays (or torch tensors), or a torch
``nn.Module``, into a ``(d,)`` float32 vector and a :class:`Layout` recording
each tensor's name, shape and offset; :func:`unflatten` inverts it. Operators
that work per tensor (SVD mutation, per-tensor TIES) read the layout.
torch is imported lazily, only when a torch object is passed.

Families opt in to merging with a ``genome_space(models)`` method that puts several fitted
models of the family into one shared parameterisation where interpolating means something
(categorical probabilities, a Gaussian's mean and Cholesky factor, a mixture's components
matched to each other, an n-gram's count tables on their common support, a network's
weights) and returns :class:`Genomes`; :func:`genomes` dispatches to it and
:func:`merge_refusal` says in one line why a family cannot be merged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

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


#: ``state()`` keys with this prefix are carried by checkpoints but are not parameters: no genome holds
#: them, and a model built from a genome keeps its template's (a language model's pool of prompts)
FIXED = "fixed."


def parameters(state: dict) -> dict:
    """``state`` less its :data:`FIXED` keys: the parameters a genome or a warm start takes."""
    return {k: v for k, v in state.items() if not k.startswith(FIXED)}


def family_genome(model) -> tuple[np.ndarray, Layout]:
    """A fitted family's parameters (its ``state()``, in order, less :data:`FIXED` keys) as a float32
    genome and its layout.

    For families whose parameters are float tensors (the neural ones). Raises ``TypeError`` when
    they hold integer arrays (counts, codes, vocabulary bytes), which a float32 cast
    would corrupt: such families merge through their own ``genome_space``.
    """
    state = parameters(model.state())
    ints = [k for k, v in state.items() if np.asarray(v).dtype.kind not in "f"]
    if ints:
        raise TypeError(f"{type(model).__name__}'s state holds non-float arrays ({', '.join(ints[:3])}); "
                        "merge it through its genome_space, not family_genome")
    return flatten(state)


def set_family_genome(model, vec: np.ndarray, layout: Layout):
    """Load a genome back into a fitted family through ``load_state``; returns the model.

    Raises ``ValueError`` if ``vec`` does not fit ``layout``.
    """
    return model.load_state(unflatten(vec, layout))


@dataclass(frozen=True)
class Genomes:
    """Several fitted models of one family in one shared parameterisation.

    ``vectors`` is ``(P, d)`` (float64, or float32 for networks), row ``i`` model ``i``'s
    genome; ``layout`` names its tensors; ``build(vec)`` returns a new fitted model from a
    ``(d,)`` genome, repairing what interpolation or noise may break (probabilities clipped
    and renormalised, counts clipped at zero, ...). ``unit`` is the size of a unit of noise: Gaussian
    mutation's ``sigma`` multiplies it; None (probabilities, counts, network weights, whose coordinates
    have no unit of their own) means the genome's root-mean-square. Natural coordinates (a Gaussian's
    whitened mean and log scales) have one: 1, a standard deviation of shift or an e-fold of scale --
    relative to the RMS, one large coordinate (the whitened mean of a pixel constant within a component)
    would set the noise on every other.
    """

    vectors: np.ndarray
    layout: Layout
    build: Callable[[np.ndarray], Any]
    unit: float | None = None


class NotMergeable(TypeError):
    """A family without a parameterisation where merging means something; the message says why."""


#: what to do instead, after a refusal's reason
MOVE_DATA = "use a coupling that moves data (migration, island_reset)"


def merge_refusal(model) -> str | None:
    """Why ``model``'s family cannot be merged in weight space (a reason, no fix), or None if it can."""
    if callable(getattr(model, "genome_space", None)):
        why = getattr(model, "cannot_merge", None)
        return why() if callable(why) else None
    return getattr(model, "merge_refusal", None) or (
        f"{type(model).__name__} has no genome space, a parameterisation where merging means something")


def genomes(models: Sequence[Any]) -> Genomes:
    """The shared genomes of ``models`` (fitted, one family); raises :class:`NotMergeable` with the reason."""
    why = merge_refusal(models[0])
    if why is not None:
        raise NotMergeable(f"cannot be merged in weight space: {why}; {MOVE_DATA}")
    return models[0].genome_space(list(models))


def state_genome_space(models: Sequence[Any]) -> Genomes:
    """``genome_space`` for families whose ``state()`` is all float tensors of fixed shapes (networks):
    the flattened state, and ``build`` = a fresh copy of ``models[0]``'s family loading the vector."""
    flat = [family_genome(m) for m in models]
    layout = flat[0][1]
    if any(lay != layout for _, lay in flat):
        raise NotMergeable(f"{type(models[0]).__name__} models of different shapes cannot be merged")
    template = models[0]

    def build(vec: np.ndarray):
        import copy

        model = copy.copy(template)  # hyperparameters and the world's fixed parts (vocabulary, prompts)
        return model.load_state(unflatten(vec, layout))

    return Genomes(np.stack([v for v, _ in flat]), layout, build)
