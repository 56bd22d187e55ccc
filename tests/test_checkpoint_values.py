"""A checkpoint with values no run writes is refused in one line, whatever part of the population holds them.

Two layers: a file edited after it was written fails its checksum; a file crafted with a fresh checksum (a
broken build, or an edit that knew the format) fails the value checks of the part that holds the bad
value -- a member's diagnostics, the population's, a family's model, a coupling (quality-diversity
archive, arena, strategy) -- and loads when nothing was changed. Each refusal is a ``CheckpointError``
(one line), which the runner answers by recomputing that population.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import redqueen
from redqueen.runtime import checkpoint as ck
from redqueen.runtime.build import make_population, make_world, plan_arms


def _exp(world, family, couplings=(), members=4, **top):
    return redqueen.validate({
        "seed": 3, "generations": 6, "n": 150, "reference_size": 100, "world": world, "family": family,
        "arms": [{"name": "a", "members": members, "couplings": list(couplings)}], **top})


def _arena(detector, genes=("temperature",)):
    return {"kind": "arena", "samples": 60, "children": 1, "reference": 100, "genes": list(genes), "detector": detector}


TEXT = {"kind": "text", "vocab_size": 200, "max_len": 12}
SETUPS = {
    "categorical": lambda: _exp({"kind": "zipf", "k": 300}, {"kind": "categorical"},
                                [{"kind": "quality_diversity", "children": 1, "reference": 100},
                                 {"kind": "migration", "rate": 0.1}]),
    "gaussian": lambda: _exp({"kind": "gaussian", "d": 2}, {"kind": "gaussian"}, [{"kind": "merge"}]),
    "gmm": lambda: _exp({"kind": "mixture", "components": 3}, {"kind": "gmm", "components": 3, "max_iter": 20},
                        [{"kind": "migration", "rate": 0.1}]),
    "kde": lambda: _exp({"kind": "mixture", "components": 3}, {"kind": "kde", "bandwidth": 0.4}, members=1),
    "regression": lambda: _exp({"kind": "regression", "d": 3}, {"kind": "regression"}, members=1),
    "arena_text": lambda: _exp(TEXT, {"kind": "ngram", "order": 2, "smoothing": "additive", "alpha": 0.01},
                               [_arena({"kind": "hashed_ngram", "n_features": 512})]),
    "arena_points": lambda: _exp({"kind": "gaussian", "d": 2}, {"kind": "gaussian"},
                                 [_arena({"kind": "classifier"}, genes=("shift",))]),
    "m2n2": lambda: _task({"kind": "m2n2", "passes": 30}, 5),
    "map_elites": lambda: _task({"kind": "map_elites", "passes": 30, "cells": 4}, 4),
    "cma": lambda: _task({"kind": "cma", "passes": 30}, 6),
}


def _task(coupling, members):
    return redqueen.validate({"seed": 3, "generations": 6, "world": {"kind": "digits_task"}, "family": {"kind": "mlp"},
                              "arms": [{"name": "a", "members": members, "couplings": [coupling]}]})


_SAVED: dict = {}


def _population(setup):
    exp = SETUPS[setup]()
    world = make_world(exp.world)
    return make_population(exp, world, plan_arms(exp, world)[0], 0)


@pytest.fixture
def saved(tmp_path):
    """``saved(setup)``: the path of a checkpoint of ``setup`` after three generations (made once per setup)."""
    def get(setup):
        if setup not in _SAVED:
            pop = _population(setup)
            for _ in range(3):
                pop.step()
            folder = tmp_path.parent / f"ckv-{setup}"
            folder.mkdir(exist_ok=True)
            _SAVED[setup] = ck.save(pop, folder / "p.safetensors")
        copy = tmp_path / f"{setup}.safetensors"
        shutil.copy(_SAVED[setup], copy)
        return copy
    return get


def rewrite(path, edit, *, checksum=True):
    """Let ``edit(meta, arrays)`` change a checkpoint in place, then write it back with (or without) a fresh checksum."""
    from safetensors import safe_open
    from safetensors.numpy import save_file

    with safe_open(str(path), framework="numpy") as f:
        header = f.metadata()
        arrays = {k: f.get_tensor(k) for k in f.keys()}
    meta = json.loads(header["redqueen"])
    edit(meta, arrays)
    arrays = {k: ck._contiguous(v) for k, v in arrays.items()}  # safetensors writes a strided view's buffer
    body = json.dumps(meta)
    save_file(arrays, str(path), metadata={"redqueen": body,
                                           "checksum": ck._checksum(body, arrays) if checksum else header["checksum"]})


def _refused(setup, path, needle):
    with pytest.raises(ck.CheckpointError) as e:
        ck.load(_population(setup), path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and needle in msg, msg
    return msg


def _set(key, value):
    def edit(meta, arrays):
        arrays[key] = np.asarray(value)
    return edit


def _meta(path, value):
    def edit(meta, arrays):
        *head, last = path
        node = meta
        for k in head:
            node = node[k]
        node[last] = value(node[last]) if callable(value) else value
    return edit


def _arrays(key, fn):
    def edit(meta, arrays):
        arrays[key] = fn(arrays[key])
    return edit


def _flip(a):
    return ~a


@pytest.mark.parametrize("setup", ["categorical", "arena_text", "cma"])
def test_an_unchanged_rewrite_loads_and_any_edit_without_the_checksum_is_refused(saved, setup):
    """The rewriting helper itself changes nothing (so the refusals below are the edits'); an edit that keeps
    the old checksum -- here one flipped bit of a plausible value -- is refused as damaged."""
    path = saved(setup)
    rewrite(path, lambda meta, arrays: None)
    ck.load(_population(setup), path)
    key = next(k for k in sorted(rewrite_keys(path)) if k.endswith(("probs", "x", "told", "coef")))

    def nudge(meta, arrays):
        a = arrays[key].copy()
        a.reshape(-1).view(np.uint8)[0] ^= 1
        arrays[key] = a
    rewrite(path, nudge, checksum=False)
    _refused(setup, path, "checksum")


def rewrite_keys(path):
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        return list(f.keys())


CASES = [
    # a member's and the population's diagnostics
    ("categorical", _meta(["member_state", 0, "diagnostics", "h0"], "0.9"), "h0"),
    ("categorical", _meta(["member_state", 1, "diagnostics", "h0"], 1.5), "h0"),
    ("categorical", _meta(["member_state", 0, "diagnostics"], [1, 2]), "diagnostics"),
    ("categorical", _arrays("m0.diagnostics.reference_present", lambda a: a[:10]), "reference_present"),
    ("categorical", _arrays("m0.diagnostics.reference_present", lambda a: a.astype(np.float64)), "reference_present"),
    ("categorical", _arrays("population.reference_present", lambda a: a[:-1]), "population"),
    # family models
    ("categorical", _arrays("m2.model.probs", lambda a: -a), "probs"),
    ("categorical", _arrays("m2.model.probs", lambda a: a * 2), "sum"),
    ("categorical", _arrays("m1.model.probs", lambda a: np.where(np.arange(a.size) == 3, np.nan, a)), "probs"),
    ("gaussian", _arrays("m0.model.cov", lambda a: -a), "negative variance"),
    ("gaussian", _arrays("m0.model.cov", lambda a: a + np.array([[0, 1], [0, 0]])), "symmetric"),
    ("gaussian", _arrays("m0.model.mean", lambda a: a[:1]), "cov"),
    ("gmm", _arrays("m1.model.fit_x", lambda a: a * np.nan), "fit_x"),  # a mixture refits on its data
    ("gmm", _arrays("m0.model.seed", lambda a: a - 2**40), "seed"),
    ("kde", _arrays("m0.model.fit_x", lambda a: a * np.inf), "fit_x"),
    ("regression", _arrays("m0.model.noise_var", lambda a: -a), "noise_var"),
    ("regression", _arrays("m0.model.inputs", lambda a: a[:, :2]), "inputs"),
    # the quality-diversity archive
    ("categorical", _arrays("c0.archive0.id", lambda a: a + 1000), "archive0.id"),
    ("categorical", _meta(["couplings", 0, "meta", "models"], lambda v: v[:-1]), "disagree"),
    ("categorical", _meta(["couplings", 0, "meta", "next_id"], -1), "next_id"),
    ("categorical", _arrays("c0.archive1.objective", lambda a: a + 5), "objective"),
    ("categorical", _arrays("c0.archive0.measure", lambda a: a[:-1]), "measure"),
    # the arena
    ("arena_text", _arrays("c0.genes", lambda a: a[:2]), "genes"),
    ("arena_text", _arrays("c0.genes", lambda a: a * np.nan), "genes"),
    ("arena_text", _arrays("c0.genes", lambda a: -a), "bounds"),
    ("arena_text", _arrays("c0.ciao", lambda a: a[:1]), "ciao"),
    ("arena_text", _arrays("c0.ciao", lambda a: a + 2), "ciao"),
    ("arena_text", _meta(["couplings", 0, "meta", "fid0"], "-3.2"), "fid0"),
    ("arena_text", _meta(["couplings", 0, "meta", "rounds"], 2), "rounds"),
    ("arena_text", _meta(["couplings", 0, "meta", "detector"], 1), "detector"),
    ("arena_text", _arrays("c0.champion1.offsets", lambda a: a[::-1].copy()), "vocabulary"),
    ("arena_text", _arrays("c0.round0.tokens", lambda a: a + 10_000), "vocabulary"),
    ("arena_text", _arrays("c0.det.coef", lambda a: a[:100]), "coef"),
    ("arena_text", _arrays("c0.archive1.coef", lambda a: a * np.inf), "coef"),
    ("arena_text", _arrays("m1.pending.tokens", lambda a: a - 10_000), "vocabulary"),
    ("arena_points", _arrays("c0.genes", lambda a: a[:, :1]), "genes"),
    ("arena_points", _arrays("c0.round2.x", lambda a: a * np.nan), "finite"),
    ("arena_points", _arrays("c0.det.scale", lambda a: -a), "scale"),
    # strategies of a task population
    ("m2n2", _meta(["couplings", 0, "meta", "passes"], 10**12), "passes"),
    ("m2n2", _meta(["couplings", 0, "meta", "passes"], 0), "passes"),
    ("m2n2", _meta(["couplings", 0, "meta", "exhausted"], "no"), "exhausted"),
    ("m2n2", _meta(["couplings", 0, "meta", "scores"], [[99, 0.5]]), "member"),
    ("m2n2", _meta(["couplings", 0, "meta", "scores"], [[0, "high"]]), "score"),
    ("m2n2", _meta(["couplings", 0, "meta", "strategy", "started"], 1), "started"),
    ("m2n2", _arrays("c0.archive", lambda a: a * np.nan), "archive"),
    ("m2n2", _arrays("c0.colsum", lambda a: a[:-1]), "colsum"),
    ("cma", _arrays("c0.best", lambda a: a * np.nan), "replayed"),
    ("cma", _meta(["couplings", 0, "meta", "strategy", "best_score"], 0.999), "replayed"),
    ("cma", _arrays("c0.told", lambda a: a[:, :-1]), "told"),
    ("cma", _arrays("c0.last", lambda a: a + 1), "replayed"),
    ("map_elites", _arrays("c0.measures", lambda a: a + 3), "measures"),
    ("map_elites", _arrays("c0.status_counts", lambda a: -a - 1), "status_counts"),
    ("map_elites", _arrays("c0.solution", lambda a: a[:, :-1]), "solution"),
]


@pytest.mark.parametrize("setup, edit, needle", CASES, ids=[f"{s}-{n}-{i}" for i, (s, _, n) in enumerate(CASES)])
def test_a_crafted_value_is_refused_by_the_part_that_holds_it(saved, setup, edit, needle):
    path = saved(setup)
    rewrite(path, edit)
    _refused(setup, path, needle)


def test_the_runner_recomputes_a_population_whose_checkpoint_is_refused_and_says_so(tmp_path, capsys):
    """What a refusal means for a run: the runner does not use the checkpoint (the population is recomputed
    from generation 0), where the same file unchanged would have been resumed from."""
    from redqueen.runtime import runner

    exp = SETUPS["categorical"]()
    unit = runner.Unit(exp.model_dump_json(), "a", 0, str(tmp_path / "p.safetensors"), False, "run-1")
    pop = runner.build_unit(unit)
    for _ in range(3):
        pop.step()
    ck.save(pop, unit.checkpoint, ck.binding_of(pop, unit.run_id, unit.config))
    assert runner._usable_checkpoint(unit, last=5) == 2
    assert capsys.readouterr().err == ""
    rewrite(unit.checkpoint, _arrays("c0.archive0.id", lambda a: a + 1000))
    assert runner._usable_checkpoint(unit, last=5) is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "arm 'a' replicate 0 is recomputed from generation 0" in err and "archive0.id" in err
