"""Packaged configs and the runs behind a reproduction: read, scale, run through the public runtime, pool.

Every reproduction's experiments are TOML files in ``redqueen/reproduce/configs`` (package data,
never a path relative to the working directory). A file is a plain experiment at paper scale with
one extra table, ``[reproduce.quick]``, whose keys override it at quick scale (tables merge key by
key, lists and values replace); steps besides the experiment (a pre-training) have their own
``[reproduce.<step>]`` table with a ``[reproduce.<step>.quick]`` override (:func:`settings`). ``"{data}"`` in a string stands for the data folder, so corpora
are written ``"{data}/wikitext-2/valid.txt"``.
"""

from __future__ import annotations

import importlib.resources
import math
import os
import tomllib
from pathlib import Path

import numpy as np

from redqueen.reproduce.base import Context, Measured, ReproductionError
from redqueen.runtime import config as C

DATA_ENV = "REDQUEEN_DATA"


def find_data(explicit: Path | None = None) -> Path | None:
    """The data folder: ``explicit`` (must exist), else ``$REDQUEEN_DATA``, else the first ``shared/data``
    beside the repository or one of its parent folders (a checkout's ``../shared/data``); ``None`` if none."""
    if explicit is not None:
        if not Path(explicit).is_dir():
            raise ReproductionError(f"--data {explicit}: no such folder; pass the folder that holds the corpora "
                                    "(e.g. shared/data with wikitext-2/ and tinyshakespeare/)")
        return Path(explicit)
    if os.environ.get(DATA_ENV):
        return find_data(Path(os.environ[DATA_ENV]))
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return None


def config_names() -> list[str]:
    """The packaged configs, without ``.toml``."""
    root = importlib.resources.files("redqueen.reproduce") / "configs"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _fill(value, data: str):
    if isinstance(value, str):
        return value.replace("{data}", data)
    if isinstance(value, dict):
        return {k: _fill(v, data) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, data) for v in value]
    return value


def raw_config(name: str, scale: str, ctx: Context | None = None) -> dict:
    """The packaged config ``name`` at ``scale`` as a dict ("{data}" filled in, corpora checked)."""
    path = importlib.resources.files("redqueen.reproduce") / "configs" / f"{name}.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    scales = data.pop("reproduce", {})
    if scale != "paper":
        data = _merge(data, scales.get(scale, {}))
    text = repr(data)
    if "{data}" in text:
        ctx = ctx or Context()
        for rel in _corpora(data):
            ctx.corpus(rel, name=name.replace("_", "-"))
        data = _fill(data, str(ctx.data))
    return data


def settings(name: str, table: str, scale: str, ctx: Context | None = None) -> dict:
    """The ``[reproduce.<table>]`` settings of config ``name`` ("{data}" filled in), with their
    ``[reproduce.<table>.<scale>]`` overrides; a reproduction's steps besides its experiments."""
    path = importlib.resources.files("redqueen.reproduce") / "configs" / f"{name}.toml"
    extra = dict(tomllib.loads(path.read_text(encoding="utf-8")).get("reproduce", {}).get(table, {}))
    over = {s: extra.pop(s, {}) for s in ("quick", "paper")}
    extra = _merge(extra, over.get(scale, {}))
    if "{data}" in repr(extra):
        ctx = ctx or Context()
        for rel in _corpora(extra):
            ctx.corpus(rel, name=name.replace("_", "-"))
        extra = _fill(extra, str(ctx.data))
    return extra


def _corpora(data) -> list[str]:
    if isinstance(data, str):
        return [data.split("{data}/", 1)[1]] if "{data}/" in data else []
    if isinstance(data, dict):
        return [c for v in data.values() for c in _corpora(v)]
    if isinstance(data, list):
        return [c for v in data for c in _corpora(v)]
    return []


def experiment(name: str, scale: str, ctx: Context | None = None, **override) -> C.Experiment:
    """The validated experiment of config ``name`` at ``scale``, with top-level ``override`` keys."""
    return C.validate(_merge(raw_config(name, scale, ctx), override))


def seeds_of(ctx: Context, exp: C.Experiment) -> tuple[int, ...]:
    return ctx.seeds if ctx.seeds else (exp.seed,)


def run(ctx: Context, exp: C.Experiment) -> list:
    """Run ``exp`` once per master seed of ``ctx`` into ``ctx.store``; returns the :class:`RunResult` s."""
    from redqueen.runtime.runner import run_experiment

    out = []
    for seed in seeds_of(ctx, exp):
        e = exp.model_copy(update={"seed": seed, "name": f"{exp.name} [seed {seed}]" if ctx.seeds else exp.name})
        ctx.log(f"running {e.name}: {len(e.arms)} arms x {e.replicates} replicates x {e.generations} generations")
        out.append(run_experiment(e, store=ctx.store, checkpoints=ctx.store is not None))
    return out


def trajectory(results: list, arm: str, metric: str) -> np.ndarray:
    """``metric`` of ``arm`` by (replicate, generation), replicates of every seed stacked."""
    return np.concatenate([r.trajectory(arm, metric) for r in results], axis=0)


def mean_of(values: np.ndarray, note: str = "") -> Measured:
    """Mean over the finite entries and its standard error."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return Measured(float("nan"), 0.0, note or "no finite value")
    se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else 0.0
    return Measured(float(v.mean()), se, note)


def run_ids(results: list) -> tuple[str, ...]:
    return tuple(r.run_id for r in results if r.run_id is not None)
