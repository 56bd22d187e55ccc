"""Run one evolution strategy on the digits task: config in, records out.

:class:`EvolveConfig` is the validated configuration (a TOML table maps
onto it field by field); :func:`run_evolve` yields an immutable
:class:`EvolveRecord` every ``eval_every`` forward passes and one at the
end. One forward pass is one genome evaluated on the whole training split
(the initial models count). Randomness: ``SeedSequence(seed)`` spawns the
initial models' stream and the strategy's stream, so a seed replays a run
exactly (on the same BLAS thread count; see ``threads``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Iterator, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from redqueen.evolve.base import Strategy
from redqueen.evolve.digits import DigitsTask, mlp_layout


SEED = Field(0, ge=0, le=2**63 - 1, description="seed of the run's random streams")


class EvolveConfig(BaseModel):
    """One evolution run on digits. Unknown keys, wrong types (``seed = "5"``), NaN/inf and out-of-range values
    are errors; so is a run this machine has not the memory for (see :func:`redqueen.runtime.memory.evolve_needs`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    method: Literal["m2n2", "map_elites", "cma", "ga"] = "m2n2"
    seed: int = SEED
    budget: int = Field(50_000, gt=0, le=10**10, description="forward passes, initial models included")
    archive_size: int = Field(20, gt=1, description="M2N2/GA archive size; CMA-ES population size")
    mutation_sigma: float = Field(0.01, ge=0, le=1e6, description="Gaussian mutation std (0 = none); CMA-ES sigma0")
    alpha: float = Field(1.0, ge=0, le=1e6, description="resource-sharing exponent; 'ga' always uses 0")
    crossover: bool = True
    splitpoint: bool = True
    matchmaker: bool = Field(True, description="'ga' never uses the matchmaker")
    init: Literal["scratch", "pretrained"] = "scratch"
    init_std: float = Field(0.01, gt=0, le=1e6, description="std of from-scratch initial parameters")
    n_initial: int = Field(2, gt=0, description="from-scratch initial models (M2N2 uses 2)")
    pretrain_seed: int = Field(42, ge=0, le=2**63 - 1, description="seed of the two pre-trained models (shared by all run seeds)")
    pretrain_steps: int = Field(10, ge=0, le=10**7)
    eval_every: int = Field(1000, gt=0)
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
            raise ValueError(f"n_initial={self.n_initial} exceeds archive_size={self.archive_size}")
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


def initial_genomes(config: EvolveConfig, task: DigitsTask, rng: np.random.Generator) -> np.ndarray:
    """``(k, d)`` starting genomes: ``n_initial`` random ``N(0, init_std^2)`` ones, or the two pre-trained halves."""
    if config.init == "pretrained":
        return task.pretrained_genomes(config.pretrain_seed, steps=config.pretrain_steps, std=config.init_std)
    return task.random_genomes(config.n_initial, rng, config.init_std)


def make_strategy(config: EvolveConfig, task: DigitsTask, initial: np.ndarray, rng: np.random.Generator) -> Strategy:
    """The strategy a config names (the one factory for strategies)."""
    if config.method in ("m2n2", "ga"):
        from redqueen.evolve.m2n2 import M2N2

        ga = config.method == "ga"
        return M2N2(
            initial=initial,
            archive_size=config.archive_size,
            alpha=0.0 if ga else config.alpha,
            mutation_sigma=config.mutation_sigma,
            crossover=config.crossover,
            splitpoint=config.splitpoint,
            matchmaker=False if ga else config.matchmaker,
            batch_size=config.batch_size,
            rng=rng,
        )
    if config.method == "map_elites":
        from redqueen.evolve.map_elites import MapElites

        odd = task.y_train % 2 == 1
        return MapElites(
            initial=initial,
            measure_masks=np.stack([odd, ~odd]),
            cells=config.cells,
            mutation_sigma=config.mutation_sigma,
            batch_size=config.batch_size,
            rng=rng,
        )
    from redqueen.evolve.cma_es import CMAES

    return CMAES(
        x0=initial[0],
        sigma0=config.mutation_sigma or 0.01,
        popsize=config.archive_size,
        diagonal=config.cma_diagonal,
        rng=rng,
    )


def run_evolve(config: EvolveConfig, task: DigitsTask | None = None) -> Iterator[EvolveRecord]:
    """Run ``config`` and yield an :class:`EvolveRecord` every ``eval_every`` forward passes and at the end.

    ``task`` defaults to ``DigitsTask.load(scale=config.input_scale)``
    (pass one to share the loaded data between runs). Records report the
    population's best member on the training split and its test accuracy.
    """
    from redqueen.runtime.threads import limited

    task = task or DigitsTask.load(scale=config.input_scale)
    init_ss, strat_ss = np.random.SeedSequence(config.seed).spawn(2)
    t0 = time.perf_counter()
    with limited(min(config.threads, os.cpu_count() or 1)):
        initial = initial_genomes(config, task, np.random.default_rng(init_ss))
        strategy = make_strategy(config, task, initial, np.random.default_rng(strat_ss))
        passes, next_report = 0, config.eval_every
        while passes < config.budget:
            genomes = strategy.ask()
            room = config.budget - passes
            if len(genomes) > room:
                if config.method == "cma":  # CMA-ES must tell whole populations
                    break
                genomes = genomes[:room]
            strategy.tell(genomes, task.scores(genomes))
            passes += len(genomes)
            if passes >= next_report or passes >= config.budget:
                next_report = (passes // config.eval_every + 1) * config.eval_every
                genome, train_acc = strategy.best()
                yield EvolveRecord(
                    method=config.method,
                    arm=config.arm,
                    seed=config.seed,
                    forward_passes=passes,
                    best_train_acc=train_acc,
                    test_acc_of_best_on_train=float(task.test_accuracy(genome)),
                    seconds=time.perf_counter() - t0,
                )
