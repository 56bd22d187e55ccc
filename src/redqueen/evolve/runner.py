"""The ``redqueen evolve`` config format, translated onto the population runtime.

:class:`EvolveConfig` is the validated flat configuration of one evolution arm (examples/
m2n2_digits.toml and friends); :func:`to_experiment` turns configs into a runtime
:class:`~redqueen.runtime.config.Experiment` on the ``digits_task`` world (see
:mod:`redqueen.loop.task` for how the keys map), so evolution runs share the runtime's
checkpoints, resume, executors and store. :func:`run_evolve` steps one such population in
this process (no store) and yields an immutable :class:`EvolveRecord` after every
generation (every ``eval_every`` forward passes, and at the end). One forward pass is one
genome evaluated on the whole training split (the initial models count). Randomness: the
population's coupling stream draws the initial genomes and drives the strategy, so a seed
replays a run exactly (on the same BLAS thread count; see ``threads``).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SEED = Field(0, ge=0, le=2**63 - 1, description="seed of the run's random streams")


class EvolveConfig(BaseModel):
    """One evolution run on digits. Unknown keys, wrong types (`seed = "5"`), NaN/inf and out-of-range values
    are errors; so is a run this machine has not the memory for (`redqueen.runtime.memory.evolve_needs`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    method: Literal["m2n2", "map_elites", "cma", "ga"] = Field("m2n2", description="the strategy: M2N2, MAP-Elites, CMA-ES or a plain GA")
    seed: int = SEED
    budget: int = Field(50_000, gt=0, le=10**10, description="forward passes, initial models included")
    archive_size: int = Field(20, gt=1, description="M2N2/GA archive size; CMA-ES population size")
    mutation_sigma: float = Field(0.01, ge=0, le=1e6, description="Gaussian mutation std (0 = none); CMA-ES sigma0")
    alpha: float = Field(1.0, ge=0, le=1e6, description="resource-sharing exponent; 'ga' always uses 0")
    crossover: bool = Field(True, description="M2N2/GA: recombine two parents (False: mutate one)")
    splitpoint: bool = Field(True, description="M2N2/GA: split-point SLERP (False: SLERP of whole genomes)")
    matchmaker: bool = Field(True, description="'ga' never uses the matchmaker")
    init: Literal["scratch", "pretrained"] = Field("scratch", description="initial models: random, or two pre-trained on digits")
    init_std: float = Field(0.01, gt=0, le=1e6, description="std of from-scratch initial parameters")
    n_initial: int = Field(2, gt=0, description="from-scratch initial models (M2N2 uses 2)")
    pretrain_seed: int = Field(42, ge=0, le=2**63 - 1, description="seed of the two pre-trained models (shared by all run seeds)")
    pretrain_steps: int = Field(10, ge=0, le=10**7, description="optimiser steps of each pre-trained model")
    eval_every: int = Field(1000, gt=0, description="forward passes per generation (a record every so many)")
    batch_size: int = Field(1, gt=0, description="children per ask (M2N2/GA/MAP-Elites); 1 = exact sequential")
    cells: int = Field(10, gt=0, description="MAP-Elites bins per measure")
    cma_diagonal: bool = Field(True, description="separable CMA-ES (full covariance needs d*d memory)")
    input_scale: float = Field(1.0, gt=0, le=1e6, description="pixel multiplier; M2N2's code uses raw 0..16 pixels")
    threads: int = Field(1, gt=0, le=1024, description="BLAS threads for evaluation (at most the CPUs); 1 is robust on a shared machine")

    @model_validator(mode="after")
    def _check(self) -> "EvolveConfig":
        if self.method == "cma" and self.init == "pretrained":
            raise ValueError("method 'cma' starts from one random point; use init = 'scratch'")
        if self.init == "scratch" and self.n_initial > self.archive_size:
            raise ValueError(f"n_initial = {self.n_initial} exceeds archive_size = {self.archive_size}; lower n_initial "
                             "or raise archive_size")
        passes = _passes(self)[0]  # forward passes per generation, where a strategy's batch must fit
        per, what = (self.archive_size, "archive_size") if self.method == "cma" else (self.batch_size, "batch_size")
        if per > passes:
            key = "eval_every" if passes == self.eval_every else "budget"
            raise ValueError(f"{what} = {per} exceeds the {passes} forward passes of a generation ({key} = "
                             f"{getattr(self, key)}); raise {key} or lower {what}")
        from redqueen.evolve.digits import mlp_layout
        from redqueen.runtime import memory

        memory.check_evolve(self, mlp_layout().size)
        return self

    @classmethod
    def from_toml(cls, path: str) -> "EvolveConfig":
        """Read a TOML file whose top-level keys (or ``[evolve]`` table) are this model's fields.

        Raises ``pydantic.ValidationError`` naming any unknown or invalid key.
        """
        import tomllib

        with open(path, "rb") as f:
            data = tomllib.load(f)
        return cls.model_validate(data.get("evolve", data))

    @property
    def arm(self) -> str:
        """A short name of the method and its switches, e.g. ``m2n2-no_matchmaker``."""
        parts = [self.method]
        if self.method in ("m2n2", "ga"):
            if not self.crossover:
                parts.append("no_crossover")
            elif not self.splitpoint:
                parts.append("no_splitpoint")
            if self.method == "m2n2" and self.crossover and not self.matchmaker:
                parts.append("no_matchmaker")
            if self.method == "m2n2" and self.alpha != 1.0:
                parts.append(f"alpha{self.alpha:g}")
        if self.init == "pretrained":
            parts.append("pretrained")
        return "-".join(parts)


@dataclass(frozen=True)
class EvolveRecord:
    """Progress of one run after ``forward_passes`` evaluations; ``seconds`` since the run started."""

    method: str
    arm: str
    seed: int
    forward_passes: int
    best_train_acc: float
    test_acc_of_best_on_train: float
    seconds: float


def _passes(config: EvolveConfig) -> tuple[int, int]:
    """``(passes per generation, generations after generation 0)``: ``eval_every``, or half the budget
    when the budget is less than two reports (a runtime run has at least two generations)."""
    every = config.eval_every
    if config.budget <= every:
        every = max(1, math.ceil(config.budget / 2))
    return every, max(1, math.ceil(config.budget / every) - 1)


def to_arm(config: EvolveConfig) -> dict:
    """The runtime ``[[arms]]`` table of one evolve config (members = ``archive_size``)."""
    passes, _ = _passes(config)
    coupling = {"kind": config.method, "passes": passes, "budget": config.budget,
                "mutation_sigma": config.mutation_sigma, "batch_size": config.batch_size}
    if config.method == "m2n2":
        coupling |= {"alpha": config.alpha, "crossover": config.crossover, "splitpoint": config.splitpoint,
                     "matchmaker": config.matchmaker}
    elif config.method == "ga":
        coupling |= {"crossover": config.crossover, "splitpoint": config.splitpoint}
    elif config.method == "map_elites":
        coupling["cells"] = config.cells
    else:
        coupling["diagonal"] = config.cma_diagonal
    family = {"init": config.init, "init_std": config.init_std, "n_initial": config.n_initial,
              "pretrain_seed": config.pretrain_seed, "pretrain_steps": config.pretrain_steps}
    return {"name": config.arm, "members": config.archive_size, "couplings": [coupling], "family": family}


def to_experiment(configs: list[EvolveConfig], *, name: str = "evolve"):
    """One runtime experiment with an arm per config; they must share ``seed``, ``input_scale`` and the
    number of generations their budget and ``eval_every`` give. Raises ``ConfigError`` in one line."""
    from redqueen.runtime import config as C

    first = configs[0]
    for c in configs[1:]:
        for key, same in (("seed", c.seed == first.seed), ("input_scale", c.input_scale == first.input_scale),
                          ("budget / eval_every", _passes(c)[1] == _passes(first)[1])):
            if not same:
                raise C.ConfigError(f"{key}: the configs of one evolve run must agree on it (arms {first.arm!r} and "
                                    f"{c.arm!r} differ); run them separately")
    return C.validate({
        "name": name, "seed": first.seed, "generations": _passes(first)[1],
        "world": {"kind": "digits_task", "scale": first.input_scale}, "family": {"kind": "mlp"},
        "arms": [to_arm(c) for c in configs],
    })


def run_evolve(config: EvolveConfig, task=None) -> Iterator[EvolveRecord]:
    """Run ``config`` in this process and yield an :class:`EvolveRecord` after every generation.

    ``task`` defaults to ``DigitsTask.load(scale=config.input_scale)`` (pass one to share the loaded
    data between runs). Records report the population's best member on the training split and its
    test accuracy. The population is the runtime's (:func:`redqueen.runtime.build.make_population`);
    ``redqueen evolve`` runs the same one through the runner, with a store and checkpoints.
    """
    from redqueen.evolve.digits import DigitsTask
    from redqueen.runtime.build import make_population, plan_arms
    from redqueen.runtime.threads import limited

    exp = to_experiment([config])
    task = task or DigitsTask.load(scale=config.input_scale)
    t0 = time.perf_counter()
    with limited(min(config.threads, os.cpu_count() or 1)):
        pop = make_population(exp, task, plan_arms(exp, task)[0], 0)
        while pop.generation < exp.generations:
            m = pop.step()[0].metrics
            yield EvolveRecord(method=config.method, arm=config.arm, seed=config.seed,
                               forward_passes=int(m["forward_passes"]), best_train_acc=m["best_train_acc"],
                               test_acc_of_best_on_train=m["best_test_acc"], seconds=time.perf_counter() - t0)
