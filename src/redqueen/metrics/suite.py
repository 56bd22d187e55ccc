"""The diagnostics computed for every generation record.

:class:`Diagnostics` is built once per lineage from the world (it draws its
own real reference sample from its own generator, so measuring never
changes the loop's random stream) and called once per generation.

Metrics by data kind (keys of the returned dict):

* every world with types (categorical, mixtures, digits, text tokens):
  ``heterozygosity``, ``hill0``, ``hill1``, ``hill2``, ``entropy``,
  ``types_lost`` (since generation 0), ``tail_mass_kept``, ``kl``
  (KL(model || world) over types), ``tv``, ``js``, ``inbreeding`` (F_t).
  The categorical family is measured on its exact distribution; other
  families on the type frequencies of their samples.
* points: ``w1`` (exact in 1-D; for d > 1 sliced along directions fixed per lineage: 16 equally spaced
  angles in the plane, 64 random directions in d >= 3), ``var_ratio`` (sample variance over the
  world's), ``mean_sq_error`` (squared distance of the sample mean from the
  world's mean), ``fitted_var_ratio`` and ``fitted_log_var`` (the mean over coordinates of
  log(fitted variance / world variance), whose downward drift Shumailov et al. show even for the
  unbiased estimator) when the family exposes ``cov_``; a linear regression (``coef_``) on a
  regression world adds ``test_error`` (``E_x (x . (coef - w))^2``) and ``noise_var_ratio`` (fitted over true
  label-noise variance).
* worlds with exact densities: ``loglik`` (mean world log-probability of
  the samples). Points and text: ``nll_real`` (mean negative log-likelihood
  of real held-out data under the model) and, for text, ``ppl_real``.
* text: ``ppl_gen0`` (the samples' perplexity under the generation-0 model) and the
  50th/90th/99th percentiles of its per-sequence values (``ppl_gen0_p50`` ...),
  ``distinct_1`` .. ``distinct_4`` and ``self_bleu`` (on 200 sampled sequences).

Besides these numbers a call returns per-item distributions: for text,
``ppl_gen0`` holds every sample's own perplexity under the generation-0 model
(the histograms of Shumailov et al.'s Figure 1, drawn by the report).
"""

from __future__ import annotations

import numpy as np

from redqueen.data import Counts, Data, Points, Sequences, mean_log_prob
from redqueen.metrics.diversity import DiversityProfile
from redqueen.metrics.popgen import phi_st
from redqueen.metrics.divergence import SlicedW1, regression_test_error, variance_ratio
from redqueen.models.base import type_probs
from redqueen.runtime import restored

REFERENCE_SIZE = 5000


def perplexity(nll):
    """exp(nll) for a float or an array: inf when the NLL is inf or overflows (above ~709 nats), never a
    clipped finite stand-in (redqueen.runtime.display: one policy for non-finite values)."""
    with np.errstate(over="ignore"):
        out = np.exp(np.asarray(nll, dtype=np.float64))
    return float(out) if out.ndim == 0 else out


def percentile(values: np.ndarray, q: float) -> float:
    """numpy's linear-interpolation percentile, but inf where it interpolates towards inf (numpy gives NaN
    for inf - inf) and exactly an order statistic where it falls on one."""
    v = np.sort(np.asarray(values, dtype=np.float64).ravel())
    pos = q / 100 * (v.size - 1)
    lo, frac = int(np.floor(pos)), pos - np.floor(pos)
    a = v[lo]
    if frac == 0:
        return float(a)
    b = v[lo + 1]
    return float(b) if np.isinf(b) else float(a + (b - a) * frac)
SELF_BLEU_SAMPLE = 200


def _reference(world_types: np.ndarray | None, arrays: dict, tail_mass: float) -> DiversityProfile | None:
    """The profile anchored on a checkpoint's ``reference_present`` (one bool per world type), if it holds one."""
    if "reference_present" not in arrays:
        return None
    k = None if world_types is None else len(world_types)
    return DiversityProfile(world_types, restored.array(arrays, "reference_present", shape=(k,), kind="b"), tail_mass)


class Diagnostics:
    def __init__(self, world, rng: np.random.Generator, *, tail_mass: float = 0.1, reference_size: int | None = None,
                 make_family=None):
        self.world = world
        self.make_family = make_family  # to rebuild the generation-0 model from a checkpoint (text)
        self.gen0 = None
        self.rng = rng
        self.tail_mass = tail_mass
        self.world_types = world.type_probs()
        self.profile: DiversityProfile | None = None
        self.h0: float | None = None
        self.types_: np.ndarray | None = None  # the type distribution the last call measured, or None
        # real data the models never trained on, where the world keeps a held-out split
        draw = getattr(world, "heldout", None) or world.sample
        self.real = draw(reference_size or REFERENCE_SIZE, rng)
        self.kind = type(self.real)
        if isinstance(self.real, Points):
            # W1 against the reference: exact in 1-D, else sliced along directions fixed for the lineage,
            # so the reference's projections are sorted once instead of every generation
            self.w1 = SlicedW1(self.real.x, rng)
            self.world_mean = self.real.x.mean(axis=0) if not hasattr(world, "mean") else world.mean()
            self.world_cov = np.atleast_2d(np.cov(self.real.x, rowvar=False)) if not hasattr(world, "cov") else world.cov()

    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        """Arrays and JSON-able values that, with the world and seed, restore these diagnostics exactly."""
        arrays = {} if self.profile is None else {"reference_present": self.profile.reference_present}
        if self.gen0 is not None:
            arrays.update({f"gen0.{k}": v for k, v in self.gen0.state().items()})
        return arrays, {"h0": self.h0, "rng": self.rng.bit_generator.state}

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        """Restore :meth:`state`'s output; ``ValueError`` naming the field that is not what a run writes."""
        self.h0 = restored.number(restored.table(meta, ""), "h0", lo=0.0, hi=1.0, none=True)
        self.rng.bit_generator.state = meta["rng"]
        self.profile = _reference(self.world_types, arrays, self.tail_mass)
        gen0 = {k[len("gen0."):]: v for k, v in arrays.items() if k.startswith("gen0.")}
        if gen0 and self.make_family is not None:
            self.gen0 = self.make_family().load_state(gen0)

    def anchor(self, model) -> np.ndarray | None:
        """Fix generation 0's reference -- the types ``types_lost`` counts against and the heterozygosity ``F``
        divides by -- on ``model`` before anything acts on it (a population's couplings act at generation 0 too:
        a merged child holds both parents' types), so every arm of a replicate counts from the same real-data
        fit. Only for a family with an exact type distribution: one measured on its samples keeps the sample it
        is measured on at generation 0 as its reference, as a lineage does (that sample is also what the next
        generation trains on; an independent sample of the fit would count types it never passed on as lost).
        Returns the type distribution anchored on (None if there is none or it is already set)."""
        p = type_probs(model) if self.profile is None else None
        if p is None:
            return None
        self.profile = DiversityProfile(self.world_types, p, self.tail_mass)
        self.h0 = self.profile(p)["heterozygosity"]
        return p

    def _type_distribution(self, model, samples: Data) -> np.ndarray | None:
        exact = type_probs(model)
        if exact is not None:
            return exact
        return self.world.types(samples)

    def __call__(self, generation: int, model, samples: Data) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """``(metrics, distributions)`` of one generation's model and its raw samples."""
        out: dict[str, float] = {}
        per_item: dict[str, np.ndarray] = {}
        p = self._type_distribution(model, samples)
        self.types_ = p
        if p is not None:
            if self.profile is None:
                self.profile = DiversityProfile(self.world_types, p, self.tail_mass)
            out.update(self.profile(p))
            if self.h0 is None:
                self.h0 = out["heterozygosity"]
            out["inbreeding"] = 1.0 - out["heterozygosity"] / self.h0 if self.h0 > 0 else float("nan")
        if not isinstance(samples, Counts):
            lp = self.world.log_prob(samples)
            if lp is not None:
                out["loglik"] = mean_log_prob(lp, samples)
        if isinstance(samples, Points):
            x = samples.x
            sub = x if len(x) <= REFERENCE_SIZE else x[self.rng.choice(len(x), REFERENCE_SIZE, replace=False)]
            out["w1"] = self.w1(sub)
            out["var_ratio"] = variance_ratio(x, self.world_cov)
            out["mean_sq_error"] = float(np.sum((x.mean(axis=0) - self.world_mean) ** 2))
            if hasattr(model, "cov_"):
                out["fitted_var_ratio"] = float(np.trace(model.cov_) / np.trace(self.world_cov))
                with np.errstate(divide="ignore"):  # a collapsed coordinate's log variance is -inf
                    out["fitted_log_var"] = float(np.mean(np.log(np.diag(model.cov_) / np.diag(self.world_cov))))
                out["fitted_mean_sq_error"] = float(np.sum((model.mean_ - self.world_mean) ** 2))
            if hasattr(model, "coef_") and hasattr(self.world, "coef"):  # linear regression on a regression world
                out["test_error"] = regression_test_error(model.coef_, self.world.coef, self.world.input_cov())
                out["noise_var_ratio"] = float(model.noise_var_ / self.world.sigma**2)
            out["nll_real"] = -mean_log_prob(model.log_prob(self.real), self.real)
        if isinstance(samples, Sequences):
            from redqueen.metrics.text import distinct, self_bleu

            lp = model.log_prob(self.real)
            n_tokens = max(int(self.real.lengths().sum()), 1)
            out["nll_real"] = -float(lp.sum()) / n_tokens
            out["ppl_real"] = perplexity(out["nll_real"])
            if generation == 0:
                self.gen0 = model
            # perplexity of this generation's samples under the generation-0 model (Shumailov et al.'s Fig. 1)
            lp0 = self.gen0.log_prob(samples)
            lengths = np.maximum(samples.lengths(), 1)
            out["ppl_gen0"] = perplexity(-float(lp0.sum()) / float(lengths.sum()))
            # the per-sequence distribution's tail (Shumailov et al.'s Figure 1 grows a long right tail)
            per_seq = perplexity(-lp0 / lengths)
            for q in (50, 90, 99):
                out[f"ppl_gen0_p{q}"] = percentile(per_seq, q)
            per_item["ppl_gen0"] = per_seq
            out.update(distinct(samples))
            out["self_bleu"] = self_bleu(samples, self.rng, sample_size=SELF_BLEU_SAMPLE)
        return out, per_item


class PopulationDiagnostics:
    """What a population of P > 1 members has that no member has alone, from their type distributions.

    ``fst`` is Wright's F_ST across the members (``(H_T - H_S) / H_T``); ``pool_*`` are the diversity
    numbers of the pooled distribution (the members' mean): types lost by the whole population, its
    Hill numbers and KL to the world (not its tail mass kept: linear, so it is the members' mean). Members with no type distribution that emit points (a
    one-component Gaussian) get ``fst`` as AMOVA's Phi_ST of their emitted samples
    (:func:`redqueen.metrics.popgen.phi_st`: the share of variance between members), and no pooled numbers; a
    regression's rows (inputs and labels) get none.
    """

    def __init__(self, world, *, tail_mass: float = 0.1):
        self.world_types = world.type_probs()
        self.regression = hasattr(world, "coef")  # rows of shared-kind inputs and labels: no F_ST of points
        self.tail_mass = tail_mass
        self.profile: DiversityProfile | None = None

    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        return ({} if self.profile is None else {"reference_present": self.profile.reference_present}), {}

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        self.profile = _reference(self.world_types, arrays, self.tail_mass)

    def anchor(self, types: list[np.ndarray | None]) -> None:
        """Fix the pooled reference on the members' generation-0 distributions before the couplings act (see
        :meth:`Diagnostics.anchor`)."""
        if self.profile is None and types and not any(t is None for t in types):
            self.profile = DiversityProfile(self.world_types, self._pool(types)[2], self.tail_mass)

    def _pool(self, types: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(f, inv, pooled)``: the ``(P, K)`` matrix of the members' distributions (in a buffer kept across
        generations: a fresh P x K temporary is page faults every call), its rows' inverse totals, and the
        members' mean distribution (rows normalised through weights, not in place; one matrix-vector product)."""
        f = self._matrix(len(types), np.asarray(types[0]).shape[0])
        for row, t in zip(f, types):
            row[:] = t
        totals = f.sum(axis=1)
        inv = np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)
        return f, inv, (inv / len(types)) @ f

    def __call__(self, generation: int, types: list[np.ndarray | None], samples: list[Data] = ()) -> dict[str, float]:
        if any(t is None for t in types):
            if samples and all(isinstance(s, Points) for s in samples) and not self.regression:
                return {"fst": phi_st([s.x for s in samples])}
            return {}
        f, inv, pooled = self._pool(types)
        if self.profile is None:
            self.profile = DiversityProfile(self.world_types, pooled, self.tail_mass)
        out = {f"pool_{k}": v for k, v in self.profile(pooled).items() if k in POOLED}
        h_s = float(np.mean(1.0 - np.einsum("ij,ij->i", f, f) * inv**2))
        h_t = out["pool_heterozygosity"]
        out["fst"] = (h_t - h_s) / h_t if h_t > 0 else float("nan")
        return out

    def _matrix(self, p: int, k: int) -> np.ndarray:
        if getattr(self, "_f", None) is None or self._f.shape != (p, k):
            self._f = np.empty((p, k))
        return self._f


#: the pooled distribution's numbers a population record carries (as ``pool_<name>``)
POOLED = ("heterozygosity", "hill0", "hill1", "hill2", "types_lost", "kl")  # not tail_mass_kept: it is linear in the
# distribution, so the pool's is exactly the members' mean (the member column already shows it)


def sample_texts(model, data: Data, rng: np.random.Generator, k: int = 1, words: int = 12) -> tuple[str, ...]:
    """Human-readable samples: decoded sequences, or ``words`` labels drawn from a categorical model."""
    if isinstance(data, Sequences) and len(data):
        idx = rng.choice(len(data), size=min(k, len(data)), replace=False)
        return tuple(data.decode(int(i)) for i in idx)
    if isinstance(data, Counts) and data.labels is not None:
        p = type_probs(model)
        p = data.frequencies() if p is None else p
        return tuple(" ".join(data.labels[i] for i in rng.choice(data.k, size=words, p=p)) for _ in range(k))
    return ()
