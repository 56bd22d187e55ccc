"""What an experiment will hold in memory, estimated from its config before anything runs.

One function per concept (world, family, curation, training set) returns the
dominant arrays that concept allocates for one lineage, as :class:`Need` s
naming the config keys that size them. :func:`check` adds them up for the
largest arm and refuses, in one line naming the keys to shrink, an experiment
that cannot fit in the memory this machine has available. Estimates count
only arrays the code is known to build at full size (float64 = 8 bytes,
float32 = 4 for torch), what one member holds from start to end (its model,
data, diagnostics' reference) once per member, and the process itself. For
categorical and Gaussian populations they were checked against measured peak
RSS (``tests/test_hostile_configs.py``: 1.0-1.5x of it); one that passes may
still run out on a crowded machine.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

F64 = 8
F32 = 4
W1_PROJECTIONS = 64  # = redqueen.metrics.suite.W1_PROJECTIONS (not imported here: that loads every model family)
COUNTS_WORLDS = ("zipf", "wordfreq")  # worlds whose data are K counts, not items


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
    if world.kind == "regression":
        return world.d + 1  # the inputs and the label
    return {"gaussian": getattr(world, "d", 0), "mixture": getattr(world, "d", 0), "digits": 64}.get(world.kind, 0)


def item_bytes(exp, family) -> float:
    """Bytes of one item in a training set or sample (0 for categorical worlds, whose data are k counts)."""
    if exp.world.kind in ("gaussian", "mixture", "digits", "regression"):
        return F64 * dims(exp.world)
    if exp.world.kind == "text":
        if family.kind == "transformer":
            length = family.max_new_tokens + (family.prompt_len if family.keep_prompt else 0)
        else:
            length = getattr(family, "max_len", exp.world.max_len)
        return F64 * min(length, exp.world.max_len) + 2 * F64  # tokens and an offset
    return 0.0


def data_bytes(exp, family, items: float, origins: int = 0) -> float:
    """Bytes of one data set of ``items`` items: per item for points and sequences; in a categorical world its K
    counts whatever ``items`` is, and with provenance one more row of K counts for each of ``origins`` origins."""
    if exp.world.kind in COUNTS_WORLDS:
        return F64 * exp.world.k * (1 + origins)
    return items * item_bytes(exp, family)


def draw_bytes(exp, items: float) -> float:
    """What the world holds while it draws ``items`` points: a Gaussian or mixture draw gathers a d x d Cholesky
    factor per point, then means and noise (0 for other worlds: their draws are the data)."""
    w = exp.world
    return F64 * items * (1 + 4 * w.d + w.d ** 2) if w.kind in ("gaussian", "mixture") else 0.0


def tracked(arm) -> bool:
    """Whether the arm's items carry provenance (as :class:`redqueen.loop.population.Population` decides)."""
    return bool(arm.provenance or arm.radioactivity or arm.regime == "web" or any(c.stage == "mixed" for c in arm.curation))


# ------------------------------------------------------------------ one function per concept

def world_needs(exp) -> list[Need]:
    w = exp.world
    if w.kind in ("zipf", "wordfreq"):  # and, once for every member, the diversity profile's terms of the world
        return [Need(4 * F64 * w.k, f"the world's {w.k:,} type probabilities", "world.k"),
                Need((6 * F64 + 2) * w.k, "the diversity profiles' world terms and scratch, shared by the members",
                     "world.k")]
    if w.kind in ("gaussian", "mixture"):
        m = 1 if w.kind == "gaussian" else w.components
        draws = max(exp.n, exp.reference_size)
        return [Need(3 * m * F64 * w.d ** 2, f"{m} covariance matrices and their factors ({w.d} x {w.d})",
                     "world.d" + ("" if m == 1 else ", world.components")),
                Need(draw_bytes(exp, draws),
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
    if f.kind == "categorical":  # the model's probabilities and the fit's temporary
        return [Need(2 * F64 * k, "the fitted type probabilities", "world.k")]
    if f.kind == "gaussian":
        return [Need(4 * F64 * d * d, f"the fitted {d} x {d} covariance and its eigendecomposition", "world.d")]
    if f.kind == "gmm":
        per = {"full": d * d, "tied": d * d / max(f.components, 1), "diag": d, "spherical": 1}[f.covariance_type]
        return [Need(3 * F64 * f.components * per, f"{f.components} fitted covariances", "family.components, world.d"),
                Need(3 * F64 * n * f.components, f"EM responsibilities of {n:,} points x {f.components} components",
                     "n, family.components")]
    if f.kind == "regression":  # least squares copies the (n, d) inputs into the layout LAPACK wants
        return [Need(F64 * n * d, f"the least-squares copy of {n:,} x {d - 1} inputs", "n, world.d")]
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
    """What a population's couplings hold once for all members: categorical members' probabilities stacked (P, K)
    to mix migrants or merge, and the arena's detector fit (``samples`` a side), every generator's ``samples``
    items each round, each round's archived samples, and with ``web`` the web model's training set and fit."""
    from redqueen.runtime.config import MERGING

    out = []
    p, k = arm.members, exp.world.k if exp.world.kind in COUNTS_WORLDS else 0
    if k and any(c.kind == "migration" or c.kind in MERGING for c in arm.couplings):
        out.append(Need(2 * F64 * p * k, f"the {p} members' probabilities stacked ({p} x {k:,}) and mixed or merged",
                        f"arms.{arm.name}.members, world.k"))
    for j, c in enumerate(arm.couplings):
        if c.kind != "arena":
            continue
        keys = f"arms.{arm.name}.couplings[{j}].samples"
        rounds = exp.generations + 1
        out += [detector_need(exp, family, c.samples, "the arena's detector fit", keys),
                Need(p * data_bytes(exp, family, c.samples), f"{c.samples:,} samples of each of {p} generators a round",
                     keys),
                Need(2 * rounds * data_bytes(exp, family, c.samples),
                     f"{c.samples:,} samples of each of {rounds} rounds' generators and champion, archived",
                     f"{keys}, generations")]
        if c.web:  # the web model trains on `web` real items and what passed: drawn, joined, fitted and sampled
            items = c.web + p * c.samples
            web = exp.model_copy(update={"n": items})
            out += [Need(3 * data_bytes(exp, family, items) + draw_bytes(exp, items),
                         f"the arena web model's training set of up to {items:,} items", f"arms.{arm.name}.couplings[{j}].web"),
                    *(Need(x.bytes, f"the arena web model: {x.what}", f"arms.{arm.name}.couplings[{j}].web")
                      for x in family_needs(web, family) + reference_needs(exp))]
    return out


def training_needs(exp, arm, family) -> list[Need]:
    per = item_bytes(exp, family)
    counts = exp.world.kind in COUNTS_WORLDS
    if per == 0 and not counts:
        return []
    pooled = arm.regime in ("accumulate", "subsample", "web")
    if counts:  # K counts a data set, whatever its size; with provenance a row of them per origin of an item
        # a generation's output has one origin, and with migration one per source that sent an item (~ n x rate)
        migrants = max([c.rate for c in arm.couplings if c.kind == "migration"], default=0.0)
        origins = 1 + min(arm.members - 1, math.ceil(exp.n * migrants)) if tracked(arm) else 0
        needs = [Need(3 * data_bytes(exp, family, exp.n, origins) + data_bytes(exp, family, exp.n, min(origins, 1)),
                      f"the training set, kept real data, emitted and pending counts of {exp.world.k:,} types"
                      + (" (with provenance, a row of them per origin)" if origins else ""), "world.k")]
        if pooled:
            rows = (exp.generations + 1) * origins
            needs.append(Need(data_bytes(exp, family, 0, rows), f"the accumulated pool's counts"
                              + (f", a row for each of {rows:,} origins" if rows else ""),
                              "world.k" + (", generations" if rows else "")))
        return needs
    size = exp.n * (exp.generations + 1) if arm.regime == "accumulate" else (arm.budget or exp.n)
    web = exp.n + exp.generations * ((arm.web_publish or exp.n) + arm.web_real_rate) if arm.regime == "web" else 0
    needs = [Need(3 * per * (size + exp.n + exp.reference_size),
                  f"training sets of up to {size:,} items, the kept real data and the reference",
                  "n, reference_size" + (", generations (accumulate)" if arm.regime == "accumulate" else ""))]
    if web:  # the web only grows: every generation's output and real arrivals stay on it
        needs.append(Need(per * web, f"a web of up to {web:,} items",
                          f"arms.{arm.name}.web_publish, web_real_rate, generations, n"))
    return needs


def reference_needs(exp) -> list[Need]:
    """What one lineage's diagnostics hold from start to end: its real reference sample and what it derives from it
    once (categorical: the reference's counts and the types present at generation 0 -- the profile's terms of the
    world are shared, see :func:`world_needs`; points: the sliced W1's four sorted (reference x directions) arrays
    and the reference on the samples' quantile steps, cached)."""
    w, ref = exp.world, exp.reference_size
    if w.kind in COUNTS_WORLDS:
        return [Need((F64 + 1) * w.k, f"the diagnostics' reference over {w.k:,} types", "world.k")]
    d = dims(w)
    if d == 0:
        return []
    proj = 1 if d == 1 else 16 if d == 2 else W1_PROJECTIONS  # = metrics.divergence._default_projections
    return [Need(5 * F64 * ref * proj, f"the diagnostics' sorted projections of {ref:,} reference points",
                 "reference_size")]


def population_needs(exp, arm) -> list[Need]:
    """What a population of P > 1 members measures together: the (P, K) matrix of their type distributions, and the
    pooled distribution's diversity profile."""
    k = exp.world.k if exp.world.kind in COUNTS_WORLDS else 0
    if arm.members < 2 or k == 0:
        return []
    return [Need(F64 * k * arm.members + k,
                 f"the population diagnostics' {arm.members} x {k:,} matrix of type distributions",
                 f"arms.{arm.name}.members, world.k")]


def diagnostics_needs(exp) -> list[Need]:
    """The measure phase: sliced W1 projects every sample on 64 directions (d > 1) or sorts them (d = 1)."""
    d = dims(exp.world)
    if d == 0:
        return []
    per = (W1_PROJECTIONS if d > 1 else 2) + getattr(exp.world, "components", 1)
    return [Need(F64 * exp.n * per, f"the diagnostics' projections of {exp.n:,} samples", "n")]


#: what every population's process holds before any array: Python with numpy, scipy, scikit-learn and redqueen
#: loaded (a one-member zipf run of k = 100,000 peaked at 137 MiB RSS, /usr/bin/time -v)
PROCESS = Need(128 * 2**20, "the interpreter and its libraries", "other processes' memory")


def needs(exp) -> list[tuple[str, list[Need]]]:
    """(arm, its needs) for every arm: what one population (arm x replicate) of it holds at most."""
    world = world_needs(exp) + diagnostics_needs(exp)
    out = []
    for arm in exp.arms:
        if exp.world.kind == "digits_task":  # a task population holds its strategy's archive, grid or covariance
            out.append((arm.name, [PROCESS] + task_needs(arm)))
            continue
        fam = exp.arm_family(arm)
        members = getattr(arm, "members", 1)  # a population holds each member's model, data and samples
        own = (family_needs(exp, fam) + curation_needs(exp, arm, fam) + training_needs(exp, arm, fam)
               + reference_needs(exp))
        if members > 1:
            own = [Need(x.bytes * members, f"{x.what}, for each of {members} members", f"{x.keys}, arms.{arm.name}.members")
                   for x in own]
        out.append((arm.name, [PROCESS] + world + own + population_needs(exp, arm) + coupling_needs(exp, arm, fam)))
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
            top = max((x for x in items if x is not PROCESS), key=lambda x: x.bytes, default=PROCESS)
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
