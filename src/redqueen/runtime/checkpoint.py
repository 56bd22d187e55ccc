"""Population checkpoints: safetensors for arrays, JSON in its header for the rest.

A checkpoint holds everything a population needs to continue bit for bit: the generation,
every member's model state, data pools, pending synthetic data, loop and diagnostics
generators, the couplings' state and generator, and the population diagnostics (a task
population's members hold a genome and a generator only: no data, no diagnostics). It is bound
to its run: the run id, arm, replicate, member count and a hash of the validated config are
stored and must match, and every field is checked against the world before anything is
used. Nothing is ever unpickled: a file that is not a usable checkpoint of this run raises
:class:`CheckpointError` with a one-line reason, and the runner then recomputes the lineage
from generation 0 instead. Writes go to a temporary file renamed over the old one, so a kill
at any moment leaves either the previous checkpoint or the new one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from redqueen.data import Counts, Data, Points, Sequences
from redqueen.runtime.files import atomic_path

FORMAT = "redqueen-population-1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and the fix."""


@dataclass(frozen=True)
class Binding:
    """What ties a checkpoint to one population of one run: checked on every load."""

    run_id: str
    config_hash: str
    arm: str
    replicate: int
    members: int


def config_hash(config_json: str) -> str:
    """The hash that binds checkpoints to a validated config (its canonical JSON)."""
    return hashlib.sha256(config_json.encode("utf-8")).hexdigest()[:32]


def binding_of(pop, run_id: str | None, config_json: str) -> Binding:
    return Binding(run_id or "", config_hash(config_json), pop.arm, pop.replicate, len(pop.member_list))


def _contiguous(v) -> np.ndarray:
    v = np.asarray(v)
    return v if v.flags.c_contiguous else np.ascontiguousarray(v)  # ascontiguousarray would make 0-d arrays 1-d


def _put(prefix: str, data: Data | None, arrays: dict, kinds: dict) -> None:
    if data is None:
        return
    kinds[prefix] = type(data).__name__
    for k, v in data.to_arrays().items():
        arrays[f"{prefix}.{k}"] = _contiguous(v)


def _sub(arrays: dict, prefix: str) -> dict:
    p = prefix + "."
    return {k[len(p):]: v for k, v in arrays.items() if k.startswith(p)}


def save(pop, path: str | Path, binding: Binding | None = None) -> Path:
    """Write ``pop``'s state after its current generation to ``path`` atomically."""
    from safetensors.numpy import save_file

    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    members = []
    for m in pop.member_list:
        p = f"m{m.index}"
        for k, v in m.model.state().items():
            arrays[f"{p}.model.{k}"] = _contiguous(v)
        if m.diagnostics is None:  # a task population's member: a genome, no data
            members.append({"rng": m.rng.bit_generator.state, "diagnostics": None})
            continue
        _put(f"{p}.bank", m.pools.bank, arrays, kinds)
        if m.pools.accumulated is not m.pools.bank:
            _put(f"{p}.accumulated", m.pools.accumulated, arrays, kinds)
        _put(f"{p}.pending", m.pending, arrays, kinds)
        diag_arrays, diag_meta = m.diagnostics.state()
        for k, v in diag_arrays.items():
            arrays[f"{p}.diagnostics.{k}"] = _contiguous(v)
        members.append({"rng": m.rng.bit_generator.state, "diagnostics": diag_meta})
    couplings = []
    for j, c in enumerate(pop.coupling_list):
        c_arrays, c_meta = c.state()
        for k, v in c_arrays.items():
            arrays[f"c{j}.{k}"] = _contiguous(v)
        couplings.append({"name": c.name, "meta": c_meta})
    pop_meta = None
    if pop.population_diagnostics is not None:
        pd_arrays, pop_meta = pop.population_diagnostics.state()
        for k, v in pd_arrays.items():
            arrays[f"population.{k}"] = _contiguous(v)
    b = binding or Binding("", "", pop.arm, pop.replicate, len(pop.member_list))
    meta = {
        "format": FORMAT, "run_id": b.run_id, "config_hash": b.config_hash, "arm": pop.arm,
        "replicate": pop.replicate, "members": len(pop.member_list), "generation": pop.generation,
        "member_state": members, "couplings": couplings, "coupling_rng": pop.coupling_rng.bit_generator.state,
        "population": pop_meta, "kinds": kinds,
    }
    body = json.dumps(meta)
    with atomic_path(path) as tmp:
        save_file(arrays, str(tmp), metadata={"redqueen": body, "checksum": _checksum(body, arrays)})
    return path


def _checksum(body: str, arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 of the JSON header and every array (name, dtype, shape, bytes): a checkpoint damaged or edited
    after it was written no longer matches it."""
    h = hashlib.sha256(body.encode("utf-8"))
    for k in sorted(arrays):
        v = _contiguous(arrays[k])
        h.update(f"\0{k}\0{v.dtype.str}\0{v.shape}\0".encode())
        h.update(v.reshape(-1).view(np.uint8))
    return h.hexdigest()


def _read(path: Path, *, arrays: bool = True) -> tuple[dict, dict[str, np.ndarray]]:
    from safetensors import safe_open

    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint; the run cannot be resumed from here")
    try:
        with safe_open(str(path), framework="numpy") as f:
            header = f.metadata() or {}
            body = header.get("redqueen", "null")
            meta = json.loads(body)
            tensors = {k: f.get_tensor(k) for k in f.keys()} if arrays else {}
    except Exception as e:  # safetensors raises several types for damaged files
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(e).__name__}); delete it to restart that lineage") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a redqueen population checkpoint; delete it to restart that lineage")
    if arrays and header.get("checksum") != _checksum(body, tensors):
        raise CheckpointError(f"{path}: its contents do not match its checksum (damaged or edited since it was "
                              "written); delete it to restart that lineage")
    return meta, tensors


def _check_binding(path: Path, meta: dict, pop, binding: Binding | None) -> None:
    if meta.get("arm") != pop.arm or meta.get("replicate") != pop.replicate:
        raise CheckpointError(f"{path}: belongs to arm {meta.get('arm')!r} replicate {meta.get('replicate')}, "
                              "not this lineage")
    if meta.get("members") != len(pop.member_list):
        raise CheckpointError(f"{path}: holds {meta.get('members')} members, this population has {len(pop.member_list)}")
    if binding is not None and (meta.get("run_id"), meta.get("config_hash")) != (binding.run_id, binding.config_hash):
        raise CheckpointError(f"{path}: belongs to another run or config; it is ignored and the lineage recomputed")


def _generator_state(path: Path, state) -> dict:
    """A PCG64 state dict as numpy accepts it, or CheckpointError."""
    try:
        g = np.random.default_rng(0)
        if not isinstance(state, dict) or state.get("bit_generator") != type(g.bit_generator).__name__:
            raise ValueError("another bit generator")
        g.bit_generator.state = state
        return state
    except (TypeError, ValueError, KeyError) as e:
        raise CheckpointError(f"{path}: bad generator state ({e}); delete it to restart that lineage") from None


def _origin(a: dict, n: int) -> np.ndarray | None:
    """The per-item origins stored with ``n`` items, if any; ``ValueError`` if they do not fit."""
    if "origin" not in a:
        return None
    origin = np.asarray(a["origin"])
    if origin.shape != (n, 2) or origin.dtype.kind not in "iu":
        raise ValueError(f"origins of shape {origin.shape}; want ({n}, 2) integers")
    return origin


class Template:
    """What a world's data look like (read off one item of it), to validate stored data against."""

    def __init__(self, probe: Data):
        self.kind = type(probe).__name__
        self.labels = getattr(probe, "labels", None)
        self.k = probe.k if isinstance(probe, Counts) else None
        self.d = probe.d if isinstance(probe, Points) else None
        self.vocab = probe.vocab if isinstance(probe, Sequences) else None

    @classmethod
    def of_world(cls, world) -> "Template":
        return cls(world.sample(1, np.random.default_rng(0)))

    def data(self, path: Path, prefix: str, kind: str | None, arrays: dict) -> Data | None:
        """The data stored under ``prefix`` (None if ``kind`` is None), or :class:`CheckpointError`."""
        if kind is None:
            return None
        if kind != self.kind:
            raise CheckpointError(f"{path}: {prefix} holds {kind} but this world makes {self.kind}")
        try:
            return self.restore(_sub(arrays, prefix))
        except KeyError as e:
            raise CheckpointError(f"{path}: {prefix} lacks {e}; delete it to restart that lineage") from None
        except ValueError as e:
            raise CheckpointError(f"{path}: {prefix}: {e}; delete it to restart that lineage") from None

    def restore(self, a: dict) -> Data:
        """Data of this world's kind from its arrays (``to_arrays``); ``KeyError``/``ValueError`` if they do not fit."""
        if self.kind == "Counts":
            c = np.asarray(a["counts"])
            if c.shape != (self.k,) or c.dtype.kind not in "iu" or (c < 0).any():
                raise ValueError(f"counts of shape {c.shape} ({c.dtype}); want ({self.k},) non-negative integers")
            if "origins" not in a:
                return Counts(c, self.labels)
            origins, by = np.asarray(a["origins"]), np.asarray(a["by_origin"])
            if (origins.ndim != 2 or origins.shape[1] != 2 or by.shape != (origins.shape[0], self.k)
                    or (by < 0).any() or not np.array_equal(by.sum(axis=0), c)):
                raise ValueError("per-origin counts that do not add up to the counts")
            return Counts(c, self.labels, origins, by)
        if self.kind == "Points":
            x = np.asarray(a["x"])
            if x.ndim != 2 or x.shape[1] != self.d or x.dtype.kind != "f" or not np.isfinite(x).all():
                raise ValueError(f"points of shape {x.shape}; want (n, {self.d}) finite floats")
            return Points(x, _origin(a, x.shape[0]))
        tokens, offsets = np.asarray(a["tokens"]), np.asarray(a["offsets"])
        v = len(self.vocab)
        if (tokens.ndim != 1 or offsets.ndim != 1 or tokens.dtype.kind not in "iu" or offsets.dtype.kind not in "iu"
                or offsets.size < 1 or offsets[0] != 0 or offsets[-1] != tokens.size or (np.diff(offsets) < 0).any()
                or (tokens.size and (tokens.min() < 0 or tokens.max() >= v))):
            raise ValueError(f"sequences that do not fit a {v}-token vocabulary")
        return Sequences(tokens, offsets, self.vocab, _origin(a, offsets.size - 1))


def _unfit(path: Path, what: str, e: Exception) -> CheckpointError:
    """A part's ``load_state`` refused its state (or failed on it in any way: foreign arrays are bad input)."""
    return CheckpointError(f"{path}: {what} ({type(e).__name__}: {str(e)[:120]}); delete it to restart that lineage")


def load(pop, path: str | Path, binding: Binding | None = None, *, last_generation: int | None = None) -> None:
    """Restore ``pop`` (freshly built from the same config and seed) from ``path``.

    Raises :class:`CheckpointError` if the file is missing, truncated, not safetensors, of
    another format, bound to another run, config or population, at a generation outside
    ``0..last_generation``, or holds a field that does not fit this world and family.
    A ``pop`` whose load raised is half restored: build a fresh one to recompute from generation 0.
    """
    from redqueen.loop.regimes import Pools

    path = Path(path)
    meta, arrays = _read(path)
    _check_binding(path, meta, pop, binding)
    gen = meta.get("generation")
    if not isinstance(gen, int) or isinstance(gen, bool) or gen < 0 or (last_generation is not None and gen > last_generation):
        raise CheckpointError(f"{path}: generation {gen!r} is outside 0..{last_generation}; the lineage is recomputed")
    states, kinds = meta.get("member_state"), meta.get("kinds")
    couplings = meta.get("couplings")
    if (not isinstance(states, list) or len(states) != len(pop.member_list) or not isinstance(kinds, dict)
            or not isinstance(couplings, list) or len(couplings) != len(pop.coupling_list)):
        raise CheckpointError(f"{path}: incomplete metadata; delete it to restart that lineage")
    template = None if all(m.diagnostics is None for m in pop.member_list) else Template.of_world(pop.world)
    restored = []
    for m, st in zip(pop.member_list, states):
        p = f"m{m.index}"
        if not isinstance(st, dict):
            raise CheckpointError(f"{path}: incomplete metadata for member {m.index}")
        try:
            model = pop.make_family()
            model.load_state(_sub(arrays, f"{p}.model"))
        except Exception as e:  # a family's load_state on foreign arrays can fail in any way: not our bug, bad input
            raise _unfit(path, f"member {m.index}'s model does not fit this family", e) from None
        if m.diagnostics is None:  # a task population's member: a genome, no data
            restored.append((m, model, None, None, _generator_state(path, st.get("rng")), None, None))
            continue
        bank = template.data(path, f"{p}.bank", kinds.get(f"{p}.bank"), arrays)
        if bank is None:
            raise CheckpointError(f"{path}: member {m.index} has no gene bank; delete it to restart that lineage")
        acc = template.data(path, f"{p}.accumulated", kinds.get(f"{p}.accumulated"), arrays) or bank
        pending = template.data(path, f"{p}.pending", kinds.get(f"{p}.pending"), arrays)
        if isinstance(bank, Counts) and hasattr(model, "labels_"):
            model.labels_ = bank.labels  # type names are the world's, not part of the model's arrays
        restored.append((m, model, Pools(bank=bank, accumulated=acc), pending, _generator_state(path, st.get("rng")),
                         _sub(arrays, f"{p}.diagnostics"), st.get("diagnostics")))
    coupling_rng = _generator_state(path, meta.get("coupling_rng"))
    for m, model, pools, pending, rng, diag_arrays, diag_meta in restored:
        try:
            if m.diagnostics is not None:
                m.diagnostics.load_state(diag_arrays, diag_meta)
        except Exception as e:
            raise _unfit(path, f"member {m.index}'s diagnostics do not fit", e) from None
        m.model, m.pools, m.pending, m.generation = model, pools, pending, gen
        m.rng.bit_generator.state = rng
    pop.generation = gen  # couplings check their state against it
    for j, (c, saved) in enumerate(zip(pop.coupling_list, couplings)):
        if not isinstance(saved, dict) or saved.get("name") != c.name:
            raise CheckpointError(f"{path}: coupling {j} is not {c.name!r}; delete it to restart that lineage")
        try:
            c.load_state(_sub(arrays, f"c{j}"), saved.get("meta"))
        except CheckpointError:
            raise
        except Exception as e:
            raise _unfit(path, f"coupling {c.name!r} state does not fit", e) from None
    if pop.population_diagnostics is not None:
        try:
            pop.population_diagnostics.load_state(_sub(arrays, "population"), meta.get("population"))
        except Exception as e:
            raise _unfit(path, "the population's diagnostics do not fit", e) from None
    pop.coupling_rng.bit_generator.state = coupling_rng


def generation_of(path: str | Path, binding: Binding | None = None) -> int | None:
    """The generation stored in a checkpoint bound to ``binding``, or None if there is no usable one."""
    try:
        meta, _ = _read(Path(path), arrays=False)
    except CheckpointError:
        return None
    if binding is not None and (meta.get("run_id"), meta.get("config_hash"), meta.get("arm"), meta.get("replicate"),
                                meta.get("members")) != (binding.run_id, binding.config_hash, binding.arm,
                                                         binding.replicate, binding.members):
        return None
    gen = meta.get("generation")
    return gen if isinstance(gen, int) and not isinstance(gen, bool) and gen >= 0 else None
