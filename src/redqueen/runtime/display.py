"""How redqueen shows numbers and user strings, in the terminal and in the report: one policy.

Numbers (:func:`fmt`):

* NaN or missing is ``-``; +-inf is ``inf`` / ``-inf`` (the store keeps +-inf as themselves and
  NaN as NULL; a perplexity is ``exp(nll)``, so an infinite NLL -- a token the model gives zero
  probability, as top-k sampling does -- is an infinite perplexity, never a clipped 1e304);
* whole numbers below a million print in full with thousands separators (``3,500``, ``10,000``);
* magnitudes from 1e6 up, or below 1e-3, in scientific notation with 3 digits (``2.5e+07``);
* anything else with 4 significant digits.

A mean over replicates that include +-inf is +-inf (:func:`replicate_stats`): an infinite value
is a result, not noise to average away. Plots leave non-finite values out and say where.

Strings (:func:`safe`): run, arm and sweep names, sample text and reasons come from users and
corpora; they are printed with rich markup escaped (``x[/]`` stays literal) and control
characters (ANSI escapes included) shown as ``\\x1b``-style escapes, never sent to the terminal.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from redqueen.arena.genes import BOUNDS, GENES, VECTOR  # numpy only: the CLI still starts without the arena's detectors

#: the level of every interval shown next to a mean over replicates
LEVEL = 0.99

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def fmt(v) -> str:
    """One number as text (see the module docstring)."""
    if v is None:
        return "-"
    v = float(v)
    if math.isnan(v):
        return "-"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    a = abs(v)
    if a >= 1e6 or (0 < a < 1e-3):
        return f"{v:.3g}" if a >= 1e6 else f"{v:.2e}"
    if v == int(v):
        return f"{int(v):,}"
    if a >= 1e3:
        return f"{v:,.0f}"
    return f"{v:.4g}"


def fmt_half(v: float) -> str:
    """An interval's half-width: two significant digits (``0.0051``, ``130``, never ``1.3e+02``), :func:`fmt`
    from 1,000 up."""
    if abs(v) >= 1e3 or math.isnan(v) or math.isinf(v):
        return fmt(v)
    text = f"{v:.2g}"
    if "e" in text and abs(v) >= 1e-3:  # 100-999: '.2g' writes 1.3e+02
        r = float(text)
        return fmt(r) if abs(r) >= 1e3 else f"{r:.0f}"
    return text


def plain(text) -> str:
    """``text`` with control characters (ANSI escapes, carriage returns...) written as visible escapes."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


def safe(text) -> str:
    """``text`` ready for rich: control characters made visible, markup escaped."""
    from rich.markup import escape

    return escape(plain(text))


@dataclass(frozen=True)
class Stats:
    """A mean over replicates with its two-sided ``LEVEL`` Student-t interval.

    ``n`` replicates contributed (NaN left out); ``infinite`` of them were +-inf, in which case
    ``mean`` is that infinity and the interval is NaN. ``half`` is NaN below two finite values.
    """

    mean: float
    half: float
    n: int
    infinite: int = 0
    low: float = -math.inf  # the values the metric can take (:func:`support`): the interval is clipped to them
    high: float = math.inf

    def text(self) -> str:
        """``mean ± half`` (``mean`` alone for one replicate; ``inf (k of n)`` with infinite values); an interval
        that reaches past what the metric can take is written clipped, ``mean [low, high]``."""
        if self.n == 0:
            return "-"
        if self.infinite:
            return f"{fmt(self.mean)} ({self.infinite} of {self.n})" if self.infinite < self.n else fmt(self.mean)
        if math.isnan(self.half) or self.half == 0:  # one replicate, or every replicate equal
            return fmt(self.mean)
        lo, hi = self.mean - self.half, self.mean + self.half
        if lo < self.low or hi > self.high:
            return f"{fmt(self.mean)} [{fmt(max(lo, self.low))}, {fmt(min(hi, self.high))}]"
        return f"{fmt(self.mean)} ± {fmt_half(self.half)}"


def replicate_stats(values, level: float = LEVEL, metric: str | None = None) -> Stats:
    """:class:`Stats` of one metric's values over replicates (a sequence of floats, NaN = missing); naming the
    ``metric`` clips its interval to what the metric can take (:func:`support`) when it is written."""
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    v = v[~np.isnan(v)]
    bounds = support(metric) if metric is not None else (-math.inf, math.inf)
    if v.size == 0:
        return Stats(math.nan, math.nan, 0, 0, *bounds)
    inf = np.isinf(v)
    if inf.any():
        signs = set(np.sign(v[inf]).tolist())
        mean = math.nan if len(signs) > 1 else float(v[inf][0])
        return Stats(mean, math.nan, int(v.size), int(inf.sum()), *bounds)
    mean = float(v.mean())
    if v.size < 2:
        return Stats(mean, math.nan, 1, 0, *bounds)
    from scipy.stats import t as student_t  # on use: the CLI starts without scipy

    half = float(student_t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return Stats(mean, half, int(v.size), 0, *bounds)


def mean_metrics(metrics: list[dict[str, float]]) -> dict[str, float]:
    """Each metric's mean over a population's members (one metrics dict each): NaN left out (NaN when
    every member is NaN), an infinite value kept (NaN when both signs occur). One dict comes back as it is."""
    if len(metrics) == 1:
        return metrics[0]
    out = {}
    for k in dict.fromkeys(k for m in metrics for k in m):
        v = [m[k] for m in metrics if k in m and not math.isnan(m[k])]
        inf = {x for x in v if math.isinf(x)}
        out[k] = math.nan if not v or len(inf) > 1 else inf.pop() if inf else math.fsum(v) / len(v)
    return out


def replicates_note(replicates: int, level: float = LEVEL) -> str:
    """What a table of :class:`Stats` shows, in one sentence."""
    if replicates <= 1:
        return "values of the single replicate (run more replicates for an interval)"
    return (f"mean over {replicates} replicates ± the half-width of its {level:.0%} interval (Student t; written "
            f"mean [low, high] where the interval is clipped to what the metric can take)")


#: short definitions, printed once under the tables that use the term (terminal and report)
GLOSSARY = {
    "types_lost": "types present at generation 0 that the model no longer has; under replace a lost type never "
                  "comes back",
    "hill0": "Hill number q=0: the number of types with non-zero probability",
    "hill1": "Hill number q=1, exp(entropy): the effective number of types weighted by frequency; rare types "
             "vanishing show here first",
    "hill2": "Hill number q=2, 1/sum p^2: the effective number of common types",
    "kl": "KL(model || world) in nats over the types: 0 when the model equals the world (finite after types are "
          "lost; those are counted by types_lost)",
    "tail_mass_kept": "mass the model puts on the world's rarest types (those holding 10% of its mass), over the "
                      "world's; it can exceed 1: under pure drift each type's expected frequency is unchanged, so "
                      "it wanders around 1 while rare types die, and smoothing or fresh data push mass into the tail",
    "heterozygosity": "H = 1 - sum p^2, the chance that two draws differ; set by the common types, so it barely "
                      "moves while rare types vanish (Wright-Fisher: E H_t = H_0 (1 - 1/N)^t)",
    "inbreeding": "F = 1 - H_t/H_0, the share of generation 0's heterozygosity lost; negative when H happens to "
                  "rise above its start (fresh data or smoothing can lift it, and so can chance)",
    "N_e": "effective population size read off the decay of H, H_t = H_0 (1 - 1/N_e)^t, for pure-drift arms "
           "(N_e = N for the categorical MLE; fresh data, smoothing, accumulation, curation and sampling bias are "
           "not drift, so it is not estimated there). The estimate and its 99% interval come from the ratios H_t/H_(t-1) over all "
           "replicates and generations; '≥ x' when the interval reaches no decay. One lineage of many types gives "
           "a wide interval: H's change is then not much larger than its chance wander",
    "w1": "Wasserstein-1 distance of the samples from held-out real data (sliced in d > 1)",
    "var_ratio": "variance of the samples over the world's (1 = intact, 0 = collapsed)",
    "fitted_var_ratio": "trace of the fitted covariance over the world's",
    "fitted_log_var": "mean over coordinates of log(fitted variance / world variance): drifts down even for "
                      "the unbiased estimator",
    "mean_sq_error": "squared distance of the sample mean from the world's mean",
    "fitted_mean_sq_error": "squared distance of the fitted mean from the world's mean",
    "loglik": "mean log-probability of the samples under the world",
    "nll_real": "mean negative log-likelihood of held-out real data under the model (per token for text); inf "
                "when the model gives some real item zero probability",
    "ppl_real": "perplexity of held-out real text under the model, exp(nll_real)",
    "ppl_gen0": "perplexity of the samples under the generation-0 model",
    "distinct_2": "share of distinct bigrams among the samples' bigrams",
    "self_bleu": "BLEU of each sample against the others: higher is less diverse",
    "test_acc": "a member's accuracy on the task's held-out split (runs of the old evolve runner: the best member's)",
    "train_acc": "a member's accuracy on the task's training split",
    "best_test_acc": "held-out accuracy of the member that is best on the training split",
    "best_train_acc": "training accuracy of the population's best member",
    "forward_passes": "genomes evaluated on the whole training split so far (initial ones included)",
    "accepted": "share of this generation's children the strategy kept (entered the archive or grid)",
    "new_cells": "share of this generation's children that filled an empty MAP-Elites cell",
    "niche_accepted": "share of this generation's niche children that replaced a member (the rest were the least fit)",
    "archive_accepted": "share of this generation's quality-diversity children that entered an archive (pyribs: "
                        "a new or an improved cell)",
    "archive_new_cells": "share of this generation's quality-diversity children that filled an empty cell",
    "archive_coverage": "share of the quality-diversity archives' cells that hold a model (mean over the two archives)",
    "niche_fitness": "a member's M2N2 fitness under resource sharing: over the real reference items, its relative "
                     "likelihood divided by the members' total to the power alpha (niches; higher: it explains "
                     "items the others do not)",
    "fst": "F_ST = (H_T - H_S) / H_T across a population's members: how far apart they have drifted (0: alike; "
           "1: each fixed on other types); migration holds it near 1 / (1 + 2 N m P/(P-1)) (Wright's island model). "
           "Members without types (points): AMOVA's Phi_ST of their samples, the share of variance between members "
           "(about 0 for members alike; an estimate, so it can dip below 0). Task populations (evolve): F_ST of the "
           "members' predicted class distributions over the test points, each point a locus",
    "pool_types_lost": "types present at generation 0 that no member has: what the population as a whole lost "
                       "(categorical: counted from the members' real-data fits, before the couplings acted)",
    "pool_hill0": "types some member still has: the number of types the pooled distribution (the members' mean) "
                  "gives non-zero probability",
    "pool_hill1": "Hill number q=1 of the pooled distribution (the members' mean)",
    "pool_kl": "KL(pooled || world): the members' mean distribution against the world",
    "pool_heterozygosity": "H_T, the heterozygosity of the pooled distribution (the members' mean)",
    "entropy": "Shannon entropy of the type distribution, in nats (log of Hill q=1)",
    "tv": "total variation distance between the model's type distribution and the world's (0 to 1)",
    "js": "Jensen-Shannon divergence between the model's type distribution and the world's, in nats (at most log 2)",
    "vendi": "Vendi score: the effective number of distinct items by their similarity (exp of the entropy of the "
             "similarity matrix's eigenvalues)",
    "coverage": "share of real items whose nearest-neighbour ball holds a generated item (Naeem et al.)",
    "distinct_1": "share of distinct tokens among the samples' tokens",
    "distinct_3": "share of distinct trigrams among the samples' trigrams",
    "distinct_4": "share of distinct 4-grams among the samples' 4-grams",
    "ppl_gen0_p50": "median of the samples' per-sequence perplexities under the generation-0 model",
    "ppl_gen0_p90": "90th percentile of the samples' per-sequence perplexities under the generation-0 model",
    "ppl_gen0_p99": "99th percentile of the samples' per-sequence perplexities under the generation-0 model (the "
                    "right tail Shumailov et al. see grow)",
    "train_size": "items in the training set the model is fitted to",
    "train_synthetic_share": "synthetic share of the training set the model is fitted to (by provenance tags)",
    "train_real_items": "real items in the training set",
    "train_synthetic_items": "synthetic items in the training set",
    "train_sequences": "sequences in the training set",
    "train_synthetic_age": "mean age in generations of the training set's synthetic items (1 = the last model's)",
    "mix_synthetic_share": "synthetic share of the training set before the mixed-stage curation",
    "filter_precision": "of what the mixed stage removed, the synthetic share",
    "filter_recall": "share of the synthetic items the mixed stage removed",
    "filter_fpr": "share of the real items the mixed stage removed (its false-positive rate)",
    "filter_removed": "items the mixed stage removed",
    "radioactivity_z": "z score of the green-token bias a model fitted to this training set (without the watermark) "
                       "shows: whether the training set taught it the watermark (Sander et al. 2024)",
    "radioactivity_p": "one-sided p-value of that radioactivity test",
    "radioactivity_green_share": "share of green tokens among the radioactivity test's distinct (context, token) tuples",
    "det_auc": "the arena detector's AUC (real against synthetic) on fresh samples of the generators it trains on",
    "det_auc_heldout": "the arena detector's AUC against the held-out generators, which it never trains on "
                       "(generality)",
    "det_tpr1": "the arena detector's true-positive rate at 1% false positives on real items, against the trained-on "
                "generators",
    "det_tpr1_heldout": "the same TPR at 1% FPR against the held-out generators",
    "det_generality": "mean of this round's CIAO column: the current detector's AUC against every round's generators",
    "evasion_rate": "share of the trained-on generators' items the detector lets through at the 1% FPR threshold",
    "evasion_rate_heldout": "the same share for the held-out generators",
    "arena_evasion": "a generator's evasion: its mean 1 - P(synthetic) under the current detector",
    "arena_fidelity": "a generator's fidelity: mean log-likelihood of held-out real data with its genes in force (per "
                      "token for text), or minus its samples' distance from real data",
    "arena_heldout": "1 for a held-out generator (the detector never trains on it), 0 otherwise",
    "fidelity": "the trained-on generators' mean fidelity (see arena_fidelity)",
    "pool_items": "items in the regime's pool after this generation's arrivals (the web, for the web regime)",
    "pool_synthetic_share": "synthetic share of the regime's pool (the web, for the web regime) after this "
                            "generation's arrivals",
    "test_error": "a regression's excess test error, E_x (x . (coef - w))^2 over the world's inputs: 0 for the true "
                  "coefficients",
    "noise_var_ratio": "a regression's fitted noise variance over the true one (1 = right)",
    "fidelity_cost": "generation 0's mean fidelity minus the trained-on generators' now: what evading cost",
    "web_synthetic_share": "synthetic share of the web model's training set (what passed the detector)",
    "det_converged": "1 when the arena's classifier detector scoring this round converged in its fit, 0 when it "
                     "stopped at its iteration limit (scikit-learn's ConvergenceWarning, recorded instead of printed)",
}


#: the values a metric can take (its support), where the metric fixes one: a band of the mean is clipped to it
#: (the mean of a share lies in [0, 1] whatever a t-quantile says). Metrics not named here are not clipped;
#: ``nll_real`` / ``loglik`` / ``fidelity`` are densities' logarithms for continuous families and can have any sign;
#: the ``filter_*`` ratios too (importance resampling draws with replacement, so it can "remove" a negative amount).
_UNIT = (0.0, 1.0)
_NONNEGATIVE = (0.0, np.inf)
RANGES = {
    **{m: _UNIT for m in ("heterozygosity", "tv", "distinct_1", "distinct_2", "distinct_3", "distinct_4",
                          "self_bleu", "test_acc", "train_acc", "best_test_acc", "best_train_acc", "accepted",
                          "new_cells", "det_auc", "det_auc_heldout", "det_tpr1",
                          "det_tpr1_heldout", "det_generality", "evasion_rate", "evasion_rate_heldout",
                          "arena_evasion", "det_converged", "train_synthetic_share", "web_synthetic_share", "radioactivity_green_share",
                          "radioactivity_p", "coverage", "archive_coverage", "niche_accepted", "archive_accepted",
                          "archive_new_cells", "pool_synthetic_share", "mix_synthetic_share", "arena_heldout")},
    **{m: _NONNEGATIVE for m in ("types_lost", "hill0", "hill1", "hill2", "entropy", "kl", "js", "tail_mass_kept",
                                 "var_ratio", "fitted_var_ratio", "w1", "mean_sq_error", "fitted_mean_sq_error",
                                 "ppl_real", "ppl_gen0", "vendi", "pool_items", "train_size", "train_real_items",
                                 "train_synthetic_items", "train_sequences", "forward_passes", "niche_fitness",
                                 "train_synthetic_age", "test_error", "noise_var_ratio",
                                 *(f"ppl_gen0_p{q}" for q in (50, 90, 99)))},
    "inbreeding": (-np.inf, 1.0),
    "fst": (-np.inf, 1.0),  # of points, AMOVA's Phi_ST: an estimate that dips below 0 for members alike
}
#: prefixes of a number measured on another distribution (the pooled members', the web model's): it takes the
#: values the bare metric takes
SAME_RANGE = ("pool_", "web_")
#: metrics that can take any sign, so have no entry in :data:`RANGES` (every other recorded metric must have one)
ANY_SIGN = ("nll_real", "loglik", "fidelity", "fidelity_cost", "arena_fidelity", "fitted_log_var", "radioactivity_z",
            "filter_fpr", "filter_precision", "filter_recall", "filter_removed")


def support(metric: str) -> tuple[float, float]:
    """``(low, high)``: the values ``metric`` can take: its :data:`RANGES` entry, or a prefixed number's
    (``pool_hill2``, ``web_kl``) the bare metric's; ``(-inf, inf)`` for a metric neither names."""
    if metric in RANGES:
        return RANGES[metric]
    for prefix in SAME_RANGE:
        if metric.startswith(prefix) and metric[len(prefix):] in RANGES:
            return RANGES[metric[len(prefix):]]
    gene = metric.removeprefix("arena_")
    if gene in GENES:  # a scalar gene within its bounds; a vector gene recorded as its root mean square
        return _NONNEGATIVE if gene in VECTOR else BOUNDS[gene]
    return (-np.inf, np.inf)


#: prefixes that name whose number a metric is: the web model's (the arena's collapse coupling), the population's
PREFIXES = {"web_": "the web model's {}", "pool_": "of the pooled distribution (the members' mean): {}",
            "arena_": "a generator's sampling gene {} (a vector gene: its root mean square)"}


def definition(term: str) -> str | None:
    """A term's definition: its own, or (``web_kl``, ``pool_hill0``) its prefix's reading of the bare term's."""
    if term in GLOSSARY:
        return GLOSSARY[term]
    for prefix, shape in PREFIXES.items():
        bare = term[len(prefix):]
        if term.startswith(prefix) and bare in GLOSSARY:
            return shape.format(GLOSSARY[bare])
        if prefix == "arena_" and term.startswith(prefix) and bare in GENES:
            return shape.format(bare)
    return None


def glossary(terms) -> list[tuple[str, str]]:
    """``(term, definition)`` for the given terms that have one, in the given order."""
    return [(t, d) for t in dict.fromkeys(terms) if (d := definition(t)) is not None]
