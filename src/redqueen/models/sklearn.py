"""Adapter for any scikit-learn style density estimator (fit / sample / score_samples).

Gaussian mixtures and kernel density estimates come from scikit-learn through
this one adapter, and so does any plug-in class named ``package.module:Class``
in a config. Randomness: every fit and every sample draw a fresh integer seed
from the loop's generator and hand it to the estimator as ``random_state``.
"""

from __future__ import annotations

import inspect
import numbers
from typing import Any

import numpy as np

from redqueen.data import Points
from redqueen.models.base import translate
from redqueen.plugins import import_plugin
from redqueen.runtime import restored

_SEED_MAX = 2**31 - 1

#: what a plug-in may raise and still count as its model diverging (numerical failure), not as a broken plug-in
NUMERICAL = (FloatingPointError, ArithmeticError, np.linalg.LinAlgError, ValueError)


class PluginError(RuntimeError):
    """A plug-in estimator raised something other than a numerical failure; the message names it."""


def _guarded(spec: str | None, what: str, fn, *args, **kwargs):
    """``fn(*args, **kwargs)``; for a plug-in (``spec``), any non-numerical exception, and a ``sys.exit``,
    becomes a :class:`PluginError` (Ctrl-C passes through)."""
    if spec is None:
        return fn(*args, **kwargs)
    try:
        return fn(*args, **kwargs)
    except NUMERICAL:
        raise
    except KeyboardInterrupt:
        raise
    except SystemExit as e:  # the plug-in's own sys.exit: its failure, not the end of the run (nor exit 0)
        raise PluginError(f"plug-in {spec} called sys.exit({e.code!r}) in {what}") from e
    except BaseException as e:  # noqa: BLE001 - the plug-in's own code: report it, whatever it raised
        raise PluginError(f"plug-in {spec} raised {type(e).__name__} in {what}: {str(e).splitlines()[0] if str(e) else ''}"
                          [:300]) from e


class SklearnDensity:
    """Wraps an unfitted estimator; each ``fit`` works on a fresh clone of it.

    Two sampling parameters (the arena's genes, :mod:`redqueen.arena.genes`) act on a fitted Gaussian
    mixture: ``temperature`` ``T`` scales every component's covariance by ``T^2`` (every standard
    deviation by ``T``, as :class:`redqueen.models.gaussian.GaussianFamily`), ``weight_temperature``
    ``S`` tempers the mixing weights, ``w_k^(1/S)`` renormalised (``S < 1`` sharpens towards the heaviest
    components, as a text temperature sharpens towards the likeliest tokens). The fit is not tempered
    (``estimator_`` and ``state`` hold EM's parameters); ``sample`` and ``log_prob`` both use the tempered
    mixture exactly, so a tempered model's fidelity is the likelihood under what it emits. At 1 and 1 the
    estimator is used as fitted (bitwise the untempered model); other estimators refuse a value other
    than 1 with ``ValueError``. A third, ``shift`` (a vector, one value per dimension; None is none), acts on
    any estimator: samples are ``x + shift`` and ``log_prob(x)`` is the fit's at ``x - shift``
    (:func:`redqueen.models.base.translate`).
    """

    def __init__(self, *, estimator, plugin: str | None = None, temperature: float = 1.0,
                 weight_temperature: float = 1.0, shift: np.ndarray | None = None):
        self.estimator = estimator
        self.plugin = plugin  # the "module:Class" of a plug-in: its exceptions are reported as PluginError
        self.temperature = temperature
        self.weight_temperature = weight_temperature
        self.shift = shift

    def _like(self, estimator) -> "SklearnDensity":
        """An unfitted density over ``estimator`` with this one's plug-in name and sampling parameters."""
        return SklearnDensity(estimator=estimator, plugin=self.plugin, temperature=self.temperature,
                              weight_temperature=self.weight_temperature, shift=self.shift)

    def _tempered(self):
        """The fitted estimator with the sampling parameters in force (a shallow copy when they are not 1)."""
        import copy

        est = self.estimator_
        t, s = float(self.temperature), float(self.weight_temperature)
        if t == 1.0 and s == 1.0:
            return est
        if not all(hasattr(est, k) for k in ("weights_", "covariances_", "precisions_cholesky_")):
            raise ValueError(f"temperature / weight_temperature need a Gaussian mixture; {type(est).__name__} "
                             "has no components to temper (set them to 1)")
        out = copy.copy(est)
        if t != 1.0:
            out.covariances_ = est.covariances_ * t**2
            out.precisions_cholesky_ = est.precisions_cholesky_ / t
            if hasattr(est, "precisions_"):
                out.precisions_ = est.precisions_ / t**2
        if s != 1.0:
            logw = np.log(np.clip(est.weights_, 1e-300, None)) / s
            w = np.exp(logw - logw.max())
            out.weights_ = w / w.sum()
        return out

    def _fresh(self, seed: int | None):
        from sklearn.base import clone  # imported late: scikit-learn takes a second to import

        est = clone(self.estimator)
        if seed is not None and "random_state" in est.get_params():
            est.set_params(random_state=seed)
        return est

    def fit(self, data: Points, rng: np.random.Generator | None = None) -> "SklearnDensity":
        self.seed_ = None if rng is None else int(rng.integers(_SEED_MAX))
        self.fit_x_ = data.x
        self.estimator_ = _guarded(self.plugin, "fit", self._fresh(self.seed_).fit, data.x)
        return self

    def sample(self, n: int, rng: np.random.Generator) -> Points:
        est = self._tempered()
        seed = int(rng.integers(_SEED_MAX))
        if "random_state" in inspect.signature(est.sample).parameters:
            out = _guarded(self.plugin, "sample", est.sample, n, random_state=seed)
        else:
            if "random_state" in est.get_params():
                est.set_params(random_state=seed)
            out = _guarded(self.plugin, "sample", est.sample, n)
        x = out[0] if isinstance(out, tuple) else out
        return Points(translate(np.asarray(x, dtype=np.float64).reshape(n, -1), self.shift))

    def log_prob(self, data: Points) -> np.ndarray:
        return np.asarray(_guarded(self.plugin, "score_samples", self._tempered().score_samples,
                                   translate(data.x, self.shift, -1.0)), dtype=np.float64)

    def dim(self) -> int:
        """The fitted points' dimension."""
        return int(self.estimator_.n_features_in_)

    def _fitted(self) -> dict[str, Any] | None:
        """The estimator's fitted attributes if they are all arrays and numbers (then they *are* the model), else None."""
        out = {}
        for k, v in vars(self.estimator_).items():
            if not k.endswith("_") or k.startswith("_"):
                continue
            if isinstance(v, np.ndarray) and v.dtype.kind in "fiub":
                out[k] = v
            elif isinstance(v, (bool, np.bool_, numbers.Integral, numbers.Real)):
                out[k] = v
            else:
                return None
        return out

    def state(self) -> dict[str, np.ndarray]:
        """The seed and, when the estimator's fitted attributes are all arrays and numbers (Gaussian
        mixtures), those attributes; otherwise (kernel density, whose parameters are its training
        points in a tree) the training data, to refit exactly."""
        out = {"seed": np.array([-1 if self.seed_ is None else self.seed_], dtype=np.int64)}
        fitted = self._fitted()
        if fitted is None:
            out["fit_x"] = self.fit_x_
            return out
        for k, v in fitted.items():
            out[f"param.{k}"] = np.asarray(v)
            if not isinstance(v, np.ndarray):
                out[f"scalar.{k}"] = np.array(_SCALAR_TYPES.index(_scalar_type(v)), dtype=np.int64)
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> "SklearnDensity":
        """Set the stored fitted attributes on a fresh clone (no refit), or refit on the stored data with
        the stored seed (estimators are deterministic given both)."""
        seed = int(restored.array(state, "seed", shape=(1,), kind="i", lo=-1, hi=_SEED_MAX)[0])
        self.seed_ = None if seed < 0 else seed
        if "fit_x" in state:
            self.fit_x_ = restored.array(state, "fit_x", shape=(None, None)).astype(np.float64)
            self.estimator_ = self._fresh(self.seed_).fit(self.fit_x_)
            return self
        est = self._fresh(self.seed_)
        for key, v in state.items():
            if key.startswith("param."):
                name = key[len("param."):]
                tag = (restored.array(state, f"scalar.{name}", shape=(), kind="i", lo=0, hi=len(_SCALAR_TYPES) - 1)
                       if f"scalar.{name}" in state else None)
                setattr(est, name, _SCALAR_TYPES[int(tag)](np.asarray(v).item()) if tag is not None else np.asarray(v))
        self.estimator_ = est
        self.fit_x_ = None
        return self

    def warm_from(self, previous: "SklearnDensity") -> "SklearnDensity":
        """An unfitted copy whose EM starts from ``previous``'s weights, means and precisions (a Gaussian
        mixture's warm start: what a child's parameters were survives the next fit, not only its samples);
        ``TypeError`` for other estimators."""
        est = self.estimator
        fitted = getattr(previous, "estimator_", None)
        if not all(hasattr(est, k) for k in ("weights_init", "means_init", "precisions_init")) or fitted is None:
            raise TypeError(f"{type(est).__name__} cannot warm start: only Gaussian mixtures start EM from a fit")
        warm = est.get_params()
        warm.update(weights_init=fitted.weights_, means_init=fitted.means_, precisions_init=fitted.precisions_,
                    init_params="random_from_data")  # the inits replace what init_params draws: skip k-means
        return self._like(type(est)(**warm))

    # -- merging -------------------------------------------------------------------------------------------

    def cannot_merge(self) -> str | None:
        est = getattr(self, "estimator_", self.estimator)
        if self.plugin is not None:
            return f"redqueen does not know which attributes of plug-in {self.plugin} are parameters"
        if "covariance_type" not in est.get_params():
            return f"a {type(est).__name__}'s parameters are its training points"
        return None

    def genome_space(self, models: list["SklearnDensity"]):
        """Gaussian mixtures in natural coordinates, each model's components first matched to ``models[0]``'s
        (Hungarian assignment on squared distances of the means, scipy) so that merging interpolates like with
        like: log-weights (``build`` takes the softmax), each component's mean whitened by its precision's
        Cholesky factor ``P`` (``P^T mean``) and ``P`` with its diagonal as logs (full, tied; diag, spherical:
        the log standard deviations). Every vector is a valid mixture, and noise on any coordinate changes real
        data's log-likelihood in proportion to the noise whatever the variances: in raw means and variance
        factors, noise on the scale of the genome hit the constant pixels' variances near 0 and sent real
        digits' log-likelihood to -1e18 (BENCHMARKS.md section 14). The unit of mutation noise is 1 (a standard
        deviation of shift, an e-fold of scale or weight), not the genome's RMS."""
        from scipy.optimize import linear_sum_assignment

        from redqueen.evolve.genome import Genomes, Layout

        ref = models[0].estimator_
        kind, (k, d) = ref.covariance_type, ref.means_.shape
        vecs = []
        for m in models:
            e = m.estimator_
            cost = ((ref.means_[:, None, :] - e.means_[None, :, :]) ** 2).sum(-1)
            order = linear_sum_assignment(cost)[1]  # ref component i <-> e's component order[i]
            cov = e.covariances_ if kind == "tied" else e.covariances_[order]
            logw = np.log(np.clip(e.weights_[order], 1e-300, None))  # finite: interpolating -inf gives nan
            white, factor = _to_natural(e.means_[order], cov, kind)
            vecs.append(np.concatenate([logw, white.ravel(), factor.ravel()]))
        shape_f = _to_natural(ref.means_, ref.covariances_, kind)[1].shape
        layout = Layout.from_shapes({"log_weights": (k,), "whitened_means": (k, d), "log_precision_factor": shape_f})
        template = self

        def build(vec: np.ndarray) -> "SklearnDensity":
            v = layout.views(np.asarray(vec, dtype=np.float64))
            w = np.exp(v["log_weights"] - v["log_weights"].max())  # softmax: positive, the largest 1 before division
            est = template._fresh(template.seed_)
            est.weights_ = w / w.sum()
            est.means_, est.covariances_, est.precisions_cholesky_ = _from_natural(
                v["whitened_means"], v["log_precision_factor"], kind)
            est.precisions_ = _precisions(est.precisions_cholesky_, kind)
            est.converged_ = True  # no EM ran: lower_bound_ and n_iter_ stay unset
            est.n_features_in_ = d
            child = template._like(template.estimator)
            child.seed_, child.fit_x_, child.estimator_ = template.seed_, None, est
            return child

        return Genomes(np.stack(vecs), layout, build, unit=1.0)


_SCALAR_TYPES = (bool, int, float)


def _scalar_type(v) -> type:
    return bool if isinstance(v, (bool, np.bool_)) else int if isinstance(v, numbers.Integral) else float


def _to_natural(means: np.ndarray, cov: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """``(whitened means (k, d), log precision factor)`` of a mixture's components: full and tied through
    :func:`redqueen.models.gaussian.to_precision_genome` (tied: one factor for every component); diag and
    spherical: ``mean / std`` and ``log std``."""
    from redqueen.models.gaussian import LOG_CLIP, to_precision_genome

    if kind == "full":
        return to_precision_genome(means, cov)
    if kind == "tied":
        white = np.stack([to_precision_genome(m, cov)[0] for m in means])
        return white, to_precision_genome(means[0], cov)[1]
    log_std = 0.5 * np.log(np.clip(cov, np.exp(-2 * LOG_CLIP), None))
    return means / np.exp(log_std if kind == "diag" else log_std[:, None]), log_std


def _from_natural(white: np.ndarray, factor: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of :func:`_to_natural`: ``(means, covariances_, precisions_cholesky_)`` as scikit-learn keeps them."""
    from redqueen.models.gaussian import LOG_CLIP, from_precision_genome

    if kind == "full":
        return from_precision_genome(white, factor)
    if kind == "tied":
        parts = [from_precision_genome(w, factor) for w in white]
        return np.stack([m for m, _, _ in parts]), parts[0][1], parts[0][2]
    std = np.exp(np.clip(factor, -LOG_CLIP, LOG_CLIP))
    return white * (std if kind == "diag" else std[:, None]), std**2, 1.0 / std


def _precisions(prec_chol: np.ndarray, kind: str) -> np.ndarray:
    if kind == "full":
        return prec_chol @ np.swapaxes(prec_chol, -1, -2)
    if kind == "tied":
        return prec_chol @ prec_chol.T
    return prec_chol**2


def gmm(*, components: int = 10, covariance_type: str = "full", max_iter: int = 100, tol: float = 1e-3, n_init: int = 1,
        init_params: str = "kmeans", reg_covar: float = 1e-6, temperature: float = 1.0,
        weight_temperature: float = 1.0) -> SklearnDensity:
    """scikit-learn's ``GaussianMixture``; ``reg_covar`` is its ridge on every covariance's diagonal (in data units
    squared): full covariances of 64 pixels fitted on tens of images per component need more than the default 1e-6,
    or EM fails on a round's synthetic data ("ill-defined empirical covariance")."""
    from sklearn.mixture import GaussianMixture

    return SklearnDensity(estimator=GaussianMixture(
        n_components=components, covariance_type=covariance_type, max_iter=max_iter, tol=tol, n_init=n_init,
        init_params=init_params, reg_covar=reg_covar), temperature=temperature, weight_temperature=weight_temperature)


def kde(*, bandwidth: float | str = 1.0, kernel: str = "gaussian") -> SklearnDensity:
    from sklearn.neighbors import KernelDensity

    return SklearnDensity(estimator=KernelDensity(bandwidth=bandwidth, kernel=kernel))


REQUIRED_METHODS = ("fit", "sample", "score_samples")


def load_plugin(spec: str, kwargs: dict) -> SklearnDensity:
    """Build the estimator named ``"package.module:Class"`` with ``kwargs`` and check its protocol.

    The module is imported only if the user allowed it (see :mod:`redqueen.plugins`).
    Raises ``ValueError`` with a one-line reason if the module is not allowed or fails to
    import, the name does not resolve, the class lacks fit/sample/score_samples, or
    construction fails.
    """
    if spec.count(":") != 1:
        raise ValueError(f"plugin {spec!r} must look like 'package.module:Class'")
    mod_name, cls_name = spec.split(":")
    module = import_plugin(mod_name)  # only an allowed module; its import errors are one line
    cls = getattr(module, cls_name, None)
    if not inspect.isclass(cls):
        raise ValueError(f"plugin {spec!r}: module {mod_name!r} has no class {cls_name!r}")
    missing = [m for m in REQUIRED_METHODS if not callable(getattr(cls, m, None))]
    if missing:
        raise ValueError(f"plugin {spec!r} lacks {', '.join(missing)}; a density estimator needs fit, sample and score_samples")
    try:
        est = cls(**kwargs)
    except (Exception, SystemExit) as e:  # the plug-in's own constructor: report, do not trace back (nor exit)
        raise ValueError(f"plugin {spec!r} rejected its arguments: {type(e).__name__}: {e}") from None
    return SklearnDensity(estimator=est, plugin=spec)


def check_density(family: SklearnDensity, x: np.ndarray, rng: np.random.Generator) -> None:
    """The full model contract (:func:`redqueen.testing.check_family`) of a plug-in on real points ``x`` (n, d):
    fit, sample, scores, determinism, state round trip; raises ``ValueError`` with the broken promise."""
    from redqueen.testing import ContractError, check_family

    try:
        check_family(lambda: SklearnDensity(estimator=family.estimator), Points(x), n=50,
                     seed=int(rng.integers(_SEED_MAX)), finite=False)  # NaN output is divergence, handled by the loop
    except ContractError as e:
        raise ValueError(f"plug-in estimator fails the model contract on {len(x)} points: {e}") from None
    except (Exception, SystemExit) as e:  # plug-in code: whatever it raises (or an exit) is one line
        raise ValueError(f"plug-in estimator failed its protocol check on {len(x)} points: {type(e).__name__}: {e}") from None
