"""From validated config to objects: the one local factory per concept.

Strings in a config become worlds, families, regimes and curation steps
here and nowhere else (no global registry).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np

from redqueen.evolve.genome import MOVE_DATA, merge_refusal
from redqueen.loop import Population, make_curation, make_regime
from redqueen.loop.couplings import make_coupling
from redqueen.runtime import config as C


def make_world(cfg):
    """A world object from its config; raises ``C.ConfigError`` when its data cannot be had."""
    from redqueen import worlds

    try:
        if isinstance(cfg, C.ZipfWorld):
            return worlds.zipf(cfg.k, cfg.s)
        if isinstance(cfg, C.WordfreqWorld):
            return worlds.wordfreq_world(cfg.lang, cfg.k)
        if isinstance(cfg, C.GaussianWorld):
            return worlds.gaussian(cfg.d, cfg.mean, cfg.std)
        if isinstance(cfg, C.MixtureWorld):
            return worlds.ring_mixture(cfg.components, cfg.d, cfg.radius, cfg.std, cfg.weights)
        if isinstance(cfg, C.DigitsWorld):
            from redqueen.worlds.digits import Digits

            return Digits(scale=cfg.scale)
        if isinstance(cfg, C.TextWorld):
            from redqueen.worlds.text import TextWorld

            return TextWorld(**cfg.model_dump(exclude={"kind"}))
        if isinstance(cfg, C.RegressionWorld):
            from redqueen.worlds.regression import RegressionWorld

            return RegressionWorld(cfg.d, sigma=cfg.sigma, coef=cfg.coef)
        if isinstance(cfg, C.DigitsTaskWorld):
            from redqueen.evolve.digits import DigitsTask

            return DigitsTask.load(scale=cfg.scale)
    except ValueError as e:  # the world's own one-line reason, with its fix (a missing corpus file, say)
        raise C.ConfigError(f"world: {e}") from None
    except (ArithmeticError, np.linalg.LinAlgError) as e:  # e.g. a covariance that overflows
        raise C.ConfigError(f"world: {type(e).__name__}: {e}; choose smaller values") from None
    raise C.ConfigError(f"world.kind: {cfg.kind!r} is not buildable")  # unreachable after validation


#: config keys that steer the loop or the build, not the family's constructor
LOOP_KEYS = {"kind", "warm_start", "prompts", "init"}


def _pretrained_state(cfg, world) -> dict | None:
    """The weights of ``family.init``, checked against the world's vocabulary; ``ConfigError`` with the fix."""
    if getattr(cfg, "init", None) is None:
        return None
    from redqueen.models.neural import pretrained

    try:
        weights = pretrained.load(cfg.init)
    except ValueError as e:
        raise C.ConfigError(f"family.init: {e}") from None
    vocab = getattr(world, "vocab", None)
    if vocab is not None and weights.tokens is not None and tuple(weights.tokens) != tuple(vocab.tokens):
        raise C.ConfigError(
            f"family.init: {cfg.init} was trained on another vocabulary ({len(weights.tokens)} tokens, "
            f"{pretrained.vocabulary_digest(weights.tokens)}) than the world's ({len(vocab.tokens)} tokens, "
            f"{pretrained.vocabulary_digest(vocab.tokens)}); build the world with the pre-training's vocabulary "
            "(world.vocab_corpora) or pre-train on this one")
    return weights.state


def make_family(cfg, world=None) -> Callable[[], object]:
    """A zero-argument factory of fresh, unfitted family objects; raises ``ConfigError`` if torch is missing."""
    from redqueen import models

    p = cfg.model_dump(exclude=LOOP_KEYS)
    if isinstance(cfg, C.CategoricalFamily):
        return partial(models.CategoricalFamily, **p)
    if isinstance(cfg, C.GaussianFamily):
        return partial(models.GaussianFamily, **p)
    if isinstance(cfg, C.GmmFamily):
        return partial(models.gmm, **p)
    if isinstance(cfg, C.KdeFamily):
        return partial(models.kde, **p)
    if isinstance(cfg, C.MlpFamily):
        from redqueen.evolve.digits import MLPGenome

        return partial(MLPGenome, **cfg.model_dump(exclude={"kind"}))  # its init is a start, not LOOP_KEYS' weights
    if isinstance(cfg, C.RegressionFamily):
        from redqueen.models.regression import LinearRegressionFamily

        return partial(LinearRegressionFamily, **p)
    if isinstance(cfg, C.NgramFamily):
        from redqueen.models.ngram import NGramFamily

        return partial(NGramFamily, **p)
    if isinstance(cfg, (C.TransformerFamily, C.VaeFamily)):
        try:
            from redqueen.models import neural
        except ImportError:
            raise C.ConfigError(f"family.kind = '{cfg.kind}' needs torch: pip install 'redqueen[neural]'") from None
        if isinstance(cfg, C.VaeFamily):
            return partial(neural.VAEFamily, **{**p, "hidden": tuple(p["hidden"])})
        prompts = getattr(world, "train", None) if cfg.prompts == "world" else None
        init = _pretrained_state(cfg, world)
        if init is not None:
            try:  # the architecture must match too: fail before the run, not in generation 0
                neural.TransformerLMFamily(**p).load_state(init)
            except (KeyError, ValueError) as e:
                raise C.ConfigError(f"family.init: {cfg.init} does not fit this architecture ({e}); "
                                    "use the pre-training's d_model, n_layers, n_heads and context") from None
        return partial(neural.TransformerLMFamily, **p, prompts=prompts, init_state=init)
    if isinstance(cfg, C.HfFamily):
        return _hf_family(cfg, p, world)
    if isinstance(cfg, C.PluginFamily):
        try:
            models.load_plugin(cfg.cls, cfg.params)
        except ValueError as e:
            raise C.ConfigError(f"family.cls: {e}") from None
        return partial(models.load_plugin, cfg.cls, cfg.params)
    raise C.ConfigError(f"family.kind: {cfg.kind!r} is not buildable")


def _hf_family(cfg, p: dict, world) -> Callable[[], object]:
    """The Hugging Face family's factory; ``ConfigError`` if its libraries or its folder are missing."""
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        raise C.ConfigError("family.kind = 'hf' needs torch and transformers: pip install 'redqueen[hf]'") from None
    from redqueen.models.hf import HFFamily, check_folder

    try:
        check_folder(cfg.path)
    except ValueError as e:
        raise C.ConfigError(f"family.path: {e}") from None
    if cfg.finetune == "lora":
        try:
            import peft  # noqa: F401
        except ImportError:
            raise C.ConfigError("family.finetune = 'lora' needs peft: pip install peft") from None
    prompts = getattr(world, "train", None) if cfg.prompts == "world" else None
    return partial(HFFamily, **p, prompts=prompts)


def check_family(cfg, factory: Callable[[], object], world, seed: int) -> None:
    """Plug-ins must satisfy the model protocol before the run starts: fit, sample and score 200 real points."""
    if isinstance(cfg, C.PluginFamily):
        from redqueen.models.sklearn import check_density

        rng = np.random.default_rng(seed)
        try:
            check_density(factory(), world.sample(200, rng).x, rng)
        except ValueError as e:
            raise C.ConfigError(f"family.cls: {e}") from None


def check_arena_detector(where: str, spec: dict, world, seed: int) -> None:
    """An arena's detector must build from its table and pass the detector contract (a plug-in classifier
    too) on 100 real items against 100 of them jittered, before the run; ``ConfigError`` naming the problem
    (at ``where``, the coupling's key)."""
    from redqueen.loop.curation import Noise
    from redqueen.models.detectors import check_detector, make_detector

    params = {k: v for k, v in spec.items() if k != "kind"}
    where += ".detector"
    try:
        make_detector(spec["kind"], **params)
    except (TypeError, ValueError) as e:
        raise C.ConfigError(f"{where}: {e}") from None
    rng = np.random.default_rng(seed)
    real = world.sample(100, rng)
    fake = Noise(rate=0.3, scale=0.5).apply(world.sample(100, rng), None, world, rng)
    try:
        check_detector(lambda: make_detector(spec["kind"], **params), real, fake, seed)
    except ValueError as e:
        raise C.ConfigError(f"{where}: {e}") from None


@dataclass(frozen=True)
class ArmPlan:
    """An arm's objects: what a lineage of it needs besides the world and the seed."""

    name: str
    regime: object
    curation: tuple
    make_family: Callable[[], object]
    family_config: dict
    members: int = 1
    couplings: tuple = ()  # zero-argument factories of fresh coupling objects
    mixed_curation: tuple = ()  # curation steps on the mixed training set
    provenance: bool = False
    radioactivity: int = 0


def _keyed(step, fam_cfg) -> dict:
    """What a curation step needs from the family: the watermark filter, the family's watermark (its key)."""
    return {"watermark": fam_cfg.watermark.model_dump()} if step.kind == "watermark" else {}


def plan_arms(exp: C.Experiment, world) -> list[ArmPlan]:
    plans = []
    for arm in exp.arms:
        fam_cfg = exp.arm_family(arm)
        factory = make_family(fam_cfg, world)
        check_family(fam_cfg, factory, world, exp.seed)
        regime = make_regime(arm.regime, real_fraction=arm.real_fraction, real_source=arm.real_source, budget=arm.budget,
                             real_rate=arm.web_real_rate, publish=arm.web_publish, shared=arm.web_shared)
        steps = {stage: tuple(make_curation(c.kind, **c.model_dump(exclude={"kind", "stage"}), **_keyed(c, fam_cfg))
                              for c in arm.curation if c.stage == stage) for stage in ("synthetic", "mixed")}
        couplings = tuple(partial(make_coupling, c.kind, **c.model_dump(exclude={"kind"})) for c in arm.couplings)
        merging = [j for j, c in enumerate(arm.couplings) if c.kind in C.MERGING]
        if merging:
            why = merge_refusal(factory())
            if why is not None:
                c = arm.couplings[merging[0]]
                raise C.ConfigError(f"arms.{arm.name}.couplings[{merging[0]}] ({c.kind}): members of family "
                                    f"'{fam_cfg.kind}' cannot be merged in weight space ({why}); {MOVE_DATA}")
        for j, c in enumerate(arm.couplings):
            if c.kind == "arena":
                check_arena_detector(f"arms.{arm.name}.couplings[{j}]", c.detector, world, exp.seed)
        plans.append(ArmPlan(arm.name, regime, steps["synthetic"], factory, fam_cfg.model_dump(), arm.members,
                             couplings, steps["mixed"], arm.provenance, arm.radioactivity))
    return plans


def make_population(exp: C.Experiment, world, plan: ArmPlan, replicate: int) -> Population:
    """The population of one arm and replicate, before generation 0 (on a task world, a
    :class:`~redqueen.loop.task.TaskPopulation` whose coupling is the arm's strategy)."""
    from redqueen.loop.task import TaskPopulation, is_task

    return (TaskPopulation if is_task(world) else Population)(
        world=world,
        make_family=plan.make_family,
        regime=plan.regime,
        n=exp.n,
        seed=exp.seed,
        arm=plan.name,
        replicate=replicate,
        curation=plan.curation,
        texts_every=exp.texts_every,
        warm_start=bool(plan.family_config.get("warm_start", False)),
        reference_size=exp.reference_size,
        members=plan.members,
        couplings=plan.couplings,
        mixed_curation=plan.mixed_curation,
        provenance=plan.provenance or bool(plan.radioactivity),
        radioactivity=plan.radioactivity,
    )
