"""What an experiment will hold in memory, estimated from its config before anything runs.

One function per concept (world, family, curation, training set) returns the
dominant arrays that concept allocates for one lineage, as :class:`Need` s
naming the config keys that size them. :func:`check` adds them up for the
largest arm and refuses, in one line naming the keys to shrink, an experiment
that cannot fit in the memory this machine has available. Estimates count
only arrays the code is known to build at full size (float64 = 8 bytes,
float32 = 4 for torch); they are lower bounds, so a refusal is certain to be
right, and one that passes may still run out on a crowded machine.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

F64 = 8
F32 = 4
W1_PROJECTIONS = 64  # = redqueen.metrics.suite.W1_PROJECTIONS (not imported here: that loads every model family)


@dataclass(frozen=True)
class Need:
    bytes: float
    what: str  # what is held, in words
    keys: str  # the config keys that size it


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} EiB"  # pragma: no cover


def available() -> float:
    """Bytes this process could allocate now: MemAvailable (Linux), else physical memory, else unbounded."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return math.inf


# ------------------------------------------------------------------ what an item is

def dims(world) -> int:
    """Coordinates of one point (0 for worlds whose items are not points)."""
    return {"gaussian": getattr(world, "d", 0), "mixture": getattr(world, "d", 0), "digits": 64}.get(world.kind, 0)


def item_bytes(exp, family) -> float:
    """Bytes of one item in a training set or sample (0 for categorical worlds, whose data are k counts)."""
    if exp.world.kind in ("gaussian", "mixture", "digits"):
        return F64 * dims(exp.world)
    if exp.world.kind == "text":
        if family.kind == "transformer":
            length = family.max_new_tokens + (family.prompt_len if family.keep_prompt else 0)
        else:
            length = getattr(family, "max_len", exp.world.max_len)
        return F64 * min(length, exp.world.max_len) + 2 * F64  # tokens and an offset
    return 0.0


# ------------------------------------------------------------------ one function per concept

def world_needs(exp) -> list[Need]:
    w = exp.world
    if w.kind in ("zipf", "wordfreq"):
        return [Need(4 * F64 * w.k, f"the world's {w.k:,} type probabilities", "world.k")]
    if w.kind in ("gaussian", "mixture"):
        m = 1 if w.kind == "gaussian" else w.components
        draws = max(exp.n, exp.reference_size)
        return [Need(3 * m * F64 * w.d ** 2, f"{m} covariance matrices and their factors ({w.d} x {w.d})",
                     "world.d" + ("" if m == 1 else ", world.components")),
                # a draw picks components, gathers each point's Cholesky factor (draws, d, d), then means and noise
                Need(F64 * draws * (1 + 4 * w.d + w.d ** 2),
                     f"a draw of {draws:,} points, which gathers a {w.d} x {w.d} factor per point",
                     "world.d, n, reference_size"),
                Need(F64 * draws * (m + w.d), f"scoring {draws:,} points under {m} components",
                     "n, reference_size, world.components")]
    if w.kind == "text" and w.corpus != "kjv":
        try:
            size = os.stat(w.corpus).st_size
        except OSError:
            return []  # the world reports a missing file itself
        per_byte = 60 if w.level == "word" else 40  # token strings, ids and splits while tokenising
        return [Need(per_byte * size, f"tokenising a corpus of {human(size)}", "world.corpus (a smaller file)")]
    return []


def family_needs(exp, family) -> list[Need]:
    f, n = family, exp.n
    d = dims(exp.world)
    k = getattr(exp.world, "k", 0)
    if f.kind == "categorical":
        return [Need(4 * F64 * k, "the fitted type probabilities", "world.k")]
    if f.kind == "gaussian":
        return [Need(4 * F64 * d * d, f"the fitted {d} x {d} covariance and its eigendecomposition", "world.d")]
    if f.kind == "gmm":
        per = {"full": d * d, "tied": d * d / max(f.components, 1), "diag": d, "spherical": 1}[f.covariance_type]
        return [Need(3 * F64 * f.components * per, f"{f.components} fitted covariances", "family.components, world.d"),
                Need(3 * F64 * n * f.components, f"EM responsibilities of {n:,} points x {f.components} components",
                     "n, family.components")]
    if f.kind == "kde":
        return [Need(2 * F64 * n * d, f"the kernel density's {n:,} training points and their tree", "n")]
    if f.kind == "ngram":
        tokens = n * item_bytes(exp, f) / F64
        return [Need(F64 * tokens * (f.order + 3), f"context codes of {tokens:,.0f} training tokens, order {f.order}",
                     "n, family.order, family.max_len")]
    if f.kind == "transformer":
        vocab = getattr(exp.world, "vocab_size", 0) + 1
        dm, layers, ctx = f.d_model, f.n_layers, f.context
        params = vocab * dm + ctx * dm + layers * 12 * dm * dm
        rows = f.sample_batch_size * (f.num_beams if f.decoding == "beam" else 1)
        return [Need(4 * F32 * params, f"{params:,.0f} parameters with gradients and AdamW state",
                     "family.d_model, family.n_layers, world.vocab_size"),
                Need(F32 * f.batch_size * ctx * layers * (16 * dm + 2 * f.n_heads * ctx),
                     "training activations and attention scores", "family.batch_size, family.context, family.d_model"),
                Need(F32 * rows * (2 * layers * ctx * dm + vocab), f"the decoding cache of {rows:,} rows",
                     "family.sample_batch_size, family.num_beams, family.context")]
    if f.kind == "vae":
        return [Need(F64 * exp.reference_size * f.eval_samples * (d + f.latent_dim),
                     f"importance samples for log-probabilities ({f.eval_samples} per item)",
                     "family.eval_samples, reference_size")]
    return []  # a plug-in: unknown


#: bytes a detector fit holds per training example, per byte of the item: the hashed n-gram detector on King James
#: verses held 18 KB an example (200,000 real and 200,000 synthetic: 3.7 GB over the run's 0.2 GB); counted at a
#: quarter of that, so a refusal stays certain
DETECTOR_PER_ITEM_BYTE = 16


def detector_need(exp, family, examples: int, what: str, keys: str) -> Need:
    """A detector fitted on ``examples`` real and ``examples`` synthetic items (its features and its fit)."""
    per = max(item_bytes(exp, family), F64) * DETECTOR_PER_ITEM_BYTE
    return Need(2 * examples * per, f"{what} on {examples:,} real and {examples:,} synthetic items", keys)


def curation_needs(exp, arm, family) -> list[Need]:
    out = []
    for i, c in enumerate(arm.curation):
        where = f"arms.{arm.name}.curation[{i}].examples"
        if c.kind in ("detector", "resample"):
            out.append(detector_need(exp, family, c.examples, f"the {c.kind} step's detector fit", where))
        elif c.kind == "paraphrase":
            out.append(Need(4 * c.examples * max(item_bytes(exp, family), F64),
                            f"the paraphraser fitted on {c.examples:,} real sequences", where))
    if arm.radioactivity:
        out.append(Need(4 * arm.radioactivity * max(item_bytes(exp, family), F64),
                        f"{arm.radioactivity:,} sequences sampled and fitted for the radioactivity test",
                        f"arms.{arm.name}.radioactivity"))
    # the synthetic-stage filters oversample the emit (a mixed-stage step edits the training set in place)
    oversample = math.prod(1.0 / c.keep for c in arm.curation if c.kind in ("filter", "perplexity") and c.stage == "synthetic")
    if oversample <= 1:
        return out
    items = exp.n * oversample
    per = max(item_bytes(exp, family), F64)  # at least a score per item
    scored = any(c.kind == "filter" and c.score == "world" for c in arm.curation) and exp.world.kind in ("gaussian", "mixture")
    per += F64 * exp.world.d ** 2 if scored else 0  # the world scores them as it samples: see world_needs
    return out + [Need(items * per, f"an oversample of {items:,.3g} samples for the filter",
                       f"arms.{arm.name}.curation.keep, n")]


def coupling_needs(exp, arm, family) -> list[Need]:
    """What a population's couplings hold once for all members: the arena's detector fit (``samples`` a side) and
    every generator's ``samples`` items each round."""
    out = []
    for j, c in enumerate(arm.couplings):
        if c.kind == "arena":
            keys = f"arms.{arm.name}.couplings[{j}].samples"
            out += [detector_need(exp, family, c.samples, "the arena's detector fit", keys),
                    Need(arm.members * c.samples * max(item_bytes(exp, family), F64),
                         f"{c.samples:,} samples of each of {arm.members} generators a round", keys)]
    return out


def training_needs(exp, arm, family) -> list[Need]:
    per = item_bytes(exp, family)
    if per == 0:
        return []
    size = exp.n * (exp.generations + 1) if arm.regime == "accumulate" else (arm.budget or exp.n)
    web = exp.n + exp.generations * ((arm.web_publish or exp.n) + arm.web_real_rate) if arm.regime == "web" else 0
    needs = [Need(3 * per * (size + exp.n + exp.reference_size),
                  f"training sets of up to {size:,} items, the kept real data and the reference",
                  "n, reference_size" + (", generations (accumulate)" if arm.regime == "accumulate" else ""))]
    if web:  # the web only grows: every generation's output and real arrivals stay on it
        needs.append(Need(per * web, f"a web of up to {web:,} items",
                          f"arms.{arm.name}.web_publish, web_real_rate, generations, n"))
    return needs


def diagnostics_needs(exp) -> list[Need]:
    """The measure phase: sliced W1 projects every sample on 64 directions (d > 1) or sorts them (d = 1)."""
    d = dims(exp.world)
    if d == 0:
        return []
    per = (W1_PROJECTIONS if d > 1 else 2) + getattr(exp.world, "components", 1)
    return [Need(F64 * exp.n * per, f"the diagnostics' projections of {exp.n:,} samples", "n")]


def needs(exp) -> list[tuple[str, list[Need]]]:
    """(arm, its needs) for every arm: what one population (arm x replicate) of it holds at most."""
    world = world_needs(exp) + diagnostics_needs(exp)
    out = []
    for arm in exp.arms:
        if exp.world.kind == "digits_task":  # a task population holds its strategy's archive, grid or covariance
            out.append((arm.name, task_needs(arm)))
            continue
        fam = exp.arm_family(arm)
        members = getattr(arm, "members", 1)  # a population holds each member's model, data and samples
        own = family_needs(exp, fam) + curation_needs(exp, arm, fam) + training_needs(exp, arm, fam)
        if members > 1:
            own = [Need(x.bytes * members, f"{x.what}, for each of {members} members", f"{x.keys}, arms.{arm.name}.members")
                   for x in own]
        out.append((arm.name, world + own + coupling_needs(exp, arm, fam)))
    return out


def check(exp, limit: float | None = None, workers: int = 1) -> None:
    """Raise ``ConfigError`` (one line, naming the keys to shrink) if an arm's population cannot fit in ``limit``
    bytes (default: :func:`available`), or, with ``workers`` > 1 (a pool), if the ``workers`` largest populations
    (arm x replicate) cannot fit side by side."""
    check_together([exp], limit, workers)


def check_together(exps, limit: float | None = None, workers: int = 1, pool: str | None = None) -> None:
    """:func:`check` over the populations of several experiments scheduled on one pool (a sweep's grid points):
    each must fit alone, and the ``workers`` largest of them side by side. ``pool`` names the pool in the
    message (default ``--workers N``)."""
    from redqueen.runtime.config import ConfigError

    limit = available() if limit is None else limit
    units = []
    for exp in exps:
        per_arm = [(arm, items, sum(x.bytes for x in items)) for arm, items in needs(exp)]
        arm, items, total = max(per_arm, key=lambda a: a[2])
        if total > limit:
            top = max(items, key=lambda x: x.bytes)
            where = f" of {exp.name!r}" if len(exps) > 1 else ""
            raise ConfigError(f"arm {arm!r}{where} needs about {human(total)} of memory, more than the {human(limit)} "
                              f"available; most of it is {top.what} ({human(top.bytes)}): shrink {top.keys}")
        units += [t for _, _, t in per_arm for _ in range(exp.replicates)]
    units.sort(reverse=True)
    together = sum(units[:workers])
    if workers > 1 and together > limit:
        fit = max(k for k in range(1, workers + 1) if sum(units[:k]) <= limit)
        raise ConfigError(f"{pool or f'--workers {workers}'}: the populations running at once need about "
                          f"{human(together)} of memory, more than the {human(limit)} available; use --workers {fit}"
                          f"{' or fewer' if fit > 1 else ' (or --executor serial)'}")


# ------------------------------------------------------------------ evolution runs (redqueen evolve)

#: full-covariance CMA-ES decomposes a (d, d) matrix every few generations: O(d^3) time; beyond this d it never ends
CMA_FULL_MAX_DIM = 2000


def evolve_needs(cfg, genome_size: int, train_size: int = 1437) -> list[Need]:
    """An evolution run's archive (and its per-example scores), MAP-Elites grid or CMA-ES covariance."""
    d = genome_size
    if cfg.method in ("m2n2", "ga"):
        return [Need(F32 * cfg.archive_size * (d + train_size), f"an archive of {cfg.archive_size:,} genomes of {d:,} "
                     "floats and their per-example scores", "archive_size")]
    if cfg.method == "map_elites":
        cells = float(cfg.cells) ** 2
        return [Need(F64 * cells * (d + 4), f"a grid of {cells:,.0f} cells, each holding a genome of {d:,} floats",
                     "cells")]
    needs = [Need(F64 * cfg.archive_size * d * 3, f"a CMA-ES population of {cfg.archive_size:,} genomes", "archive_size")]
    if not cfg.cma_diagonal:
        needs.append(Need(5 * F64 * d * d, f"the full {d:,} x {d:,} covariance, its eigenvectors and updates",
                          "cma_diagonal = false (use true)"))
    return needs


def task_needs(arm) -> list[Need]:
    """A task world's arm: :func:`evolve_needs` of its strategy coupling (members = archive or population size)."""
    from types import SimpleNamespace

    from redqueen.evolve.digits import mlp_layout

    c = arm.couplings[0]
    cfg = SimpleNamespace(method=c.kind, archive_size=arm.members, cells=getattr(c, "cells", 0),
                          cma_diagonal=getattr(c, "diagonal", True))
    return [Need(x.bytes, x.what, f"arms.{arm.name}.{'members' if x.keys == 'archive_size' else x.keys}")
            for x in evolve_needs(cfg, mlp_layout().size)]


def check_evolve(cfg, genome_size: int, limit: float | None = None) -> None:
    """Raise ``ValueError`` (pydantic makes it one line naming the config) if the run cannot fit or never ends."""
    if cfg.method == "cma" and not cfg.cma_diagonal and genome_size > CMA_FULL_MAX_DIM:
        raise ValueError(f"full-covariance CMA-ES on {genome_size:,} parameters decomposes a {genome_size:,} x "
                         f"{genome_size:,} matrix every few generations and never ends; set cma_diagonal = true")
    items = evolve_needs(cfg, genome_size)
    total = sum(x.bytes for x in items)
    limit = available() if limit is None else limit
    if total > limit:
        top = max(items, key=lambda x: x.bytes)
        raise ValueError(f"this run needs about {human(total)} of memory, more than the {human(limit)} available; "
                         f"most of it is {top.what}: shrink {top.keys}")
