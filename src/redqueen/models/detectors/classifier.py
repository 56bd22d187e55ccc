"""A detector from any scikit-learn classifier on points (Gaussians, mixtures, digits): default an MLP.

The classifier is named ``"package.module:Class"`` with keyword ``params``
(default ``sklearn.neural_network:MLPClassifier``, one hidden layer of 64);
``standardize`` scales features by the training set's mean and standard
deviation first. ``score`` is the classifier's ``predict_proba`` for the
synthetic class. A scikit-learn ``ConvergenceWarning`` during ``fit`` (an MLP
stopping at ``max_iter``) is not printed: ``converged_`` records it (False), and
the arena stores it per round as ``det_converged``; other warnings pass through.

Fitted state without pickle: the estimator's public fitted attributes
(``name_``) that are numeric arrays, lists of them (an MLP's ``coefs_``) or
plain scalars and strings are saved as arrays and JSON metadata, with its
constructor parameters; ``load_state`` builds the class again and sets them.
That covers MLPClassifier, LogisticRegression, LinearDiscriminantAnalysis,
GaussianNB and the like. An estimator whose fitted state holds other objects
(trees, neighbour indexes) cannot be saved this way: :meth:`state` raises
``ValueError`` naming the attribute. :func:`check_detector` confirms that a
restored detector scores bit for bit as the fitted one.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np

from redqueen.data import Points
from redqueen.plugins import import_plugin
from redqueen.models.detectors.base import check_kind, pack_meta, seed_from, unpack_meta
from redqueen.runtime import restored

DEFAULT_CLASSIFIER = "sklearn.neural_network:MLPClassifier"
DEFAULT_PARAMS = {"hidden_layer_sizes": [64], "max_iter": 300}
_SCALARS = (bool, int, float, str, type(None))


def resolve_classifier(spec: str):
    """The class named ``"package.module:Class"``; ``ValueError`` with a one-line reason if it is not a classifier.

    The one place a classifier plug-in is imported (through :func:`redqueen.plugins.import_plugin`, so only a
    module the user allowed), as :func:`redqueen.models.sklearn.load_plugin` is for density plug-ins.
    """
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise ValueError(f"classifier {spec!r} must look like 'package.module:Class'")
    mod_name, cls_name = spec.split(":")
    module = import_plugin(mod_name)  # only an allowed module (see redqueen.plugins); its import errors are one line
    cls = getattr(module, cls_name, None)
    if not inspect.isclass(cls):
        raise ValueError(f"classifier {spec!r}: module {mod_name!r} has no class {cls_name!r}")
    missing = [m for m in ("fit", "predict_proba") if not callable(getattr(cls, m, None))]
    if missing:
        raise ValueError(f"classifier {spec!r} lacks {', '.join(missing)}; a detector needs fit and predict_proba")
    return cls


def _jsonable(value):
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)) and all(isinstance(v, _SCALARS + (np.generic,)) for v in value):
        return [v.item() if isinstance(v, np.generic) else v for v in value]
    raise TypeError


def estimator_state(est) -> tuple[dict[str, np.ndarray], dict]:
    """Fitted attributes of ``est`` as arrays (``attr``, ``attr.i`` for lists) and JSON metadata; ``ValueError`` if not."""
    arrays, scalars, lists = {}, {}, {}
    for name, value in vars(est).items():
        if not name.endswith("_") or name.startswith("_"):
            continue
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            arrays[name] = value
        elif isinstance(value, (list, tuple)) and value and all(
                isinstance(v, np.ndarray) and v.dtype.kind in "biuf" for v in value):
            lists[name] = len(value)
            arrays.update({f"{name}.{i}": v for i, v in enumerate(value)})
        else:
            try:
                scalars[name] = _jsonable(value)
            except TypeError:
                raise ValueError(f"{type(est).__name__}.{name} is a {type(value).__name__}, which cannot be saved "
                                 "without pickle; choose a classifier whose fitted state is arrays (e.g. an MLP)") from None
    try:
        params = {k: _jsonable(v) for k, v in est.get_params(deep=False).items()}
    except TypeError:
        raise ValueError(f"{type(est).__name__} has constructor parameters that are not plain values") from None
    return arrays, {"params": params, "scalars": scalars, "lists": lists}


def estimator_from_state(cls, arrays: dict[str, np.ndarray], meta: dict):
    """Inverse of :func:`estimator_state`: a ``cls`` built from the saved parameters with its fitted attributes set."""
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["params"].items()}
    est = cls(**params)
    listed = {f"{name}.{i}" for name, n in meta["lists"].items() for i in range(n)}
    for name, value in arrays.items():
        if name not in listed:
            setattr(est, name, value)
    for name, n in meta["lists"].items():
        setattr(est, name, [arrays[f"{name}.{i}"] for i in range(n)])
    for name, value in meta["scalars"].items():
        setattr(est, name, value)
    return est


class ClassifierDetector:
    """A scikit-learn classifier on points, real = 0 and synthetic = 1; see the module docstring."""

    def __init__(self, *, estimator: str = DEFAULT_CLASSIFIER, params: dict | None = None, standardize: bool = True):
        self.estimator = estimator
        self.params = dict(DEFAULT_PARAMS) if params is None and estimator == DEFAULT_CLASSIFIER else dict(params or {})
        self.standardize = standardize

    def _scale(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean_) / self.scale_ if self.standardize else x

    def fit(self, real: Points, synthetic: Points, rng: np.random.Generator) -> "ClassifierDetector":
        """Raises ``ValueError`` if the classifier cannot be built from its name and parameters."""
        check_kind(real, (Points,), "ClassifierDetector")
        check_kind(synthetic, (Points,), "ClassifierDetector")
        cls = resolve_classifier(self.estimator)
        x = np.concatenate([real.x, synthetic.x])
        y = np.r_[np.zeros(len(real), np.int64), np.ones(len(synthetic), np.int64)]
        self.mean_ = x.mean(axis=0)
        sd = x.std(axis=0)
        self.scale_ = np.where(sd > 0, sd, 1.0)
        try:
            est = cls(**self.params)
        except Exception as e:  # the plug-in's own constructor: report, do not trace back
            raise ValueError(f"classifier {self.estimator!r} rejected its parameters: {e}") from None
        if "random_state" in est.get_params():
            est.set_params(random_state=seed_from(rng))
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings(record=True) as caught:  # recorded, not printed once per round of a run
            warnings.simplefilter("always", ConvergenceWarning)
            self.estimator_ = est.fit(self._scale(x), y)
        for w in caught:  # anything else is the user's to see
            if not issubclass(w.category, ConvergenceWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        self.converged_ = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        self._synthetic_column = int(np.flatnonzero(np.asarray(est.classes_) == 1)[0])
        return self

    def score(self, data: Points) -> np.ndarray:
        """P(synthetic) per point; (len(data),) float64."""
        check_kind(data, (Points,), "ClassifierDetector")
        proba = self.estimator_.predict_proba(self._scale(data.x))
        return np.asarray(proba[:, self._synthetic_column], dtype=np.float64)

    def state(self) -> dict[str, np.ndarray]:
        """Scaling arrays, the estimator's fitted arrays (``estimator.*``) and metadata; ``ValueError`` if unsaveable."""
        arrays, meta = estimator_state(self.estimator_)
        meta.update(estimator=self.estimator, standardize=self.standardize, converged=self.converged_)
        return {"mean": self.mean_, "scale": self.scale_, "meta": pack_meta(meta),
                **{f"estimator.{k}": v for k, v in arrays.items()}}

    def load_state(self, state: dict[str, np.ndarray]) -> "ClassifierDetector":
        meta = unpack_meta(state["meta"])
        self.estimator, self.standardize = meta["estimator"], meta["standardize"]
        self.converged_ = bool(meta.get("converged", True))
        self.params = meta["params"]
        arrays = {k[len("estimator."):]: np.asarray(v) for k, v in state.items() if k.startswith("estimator.")}
        self.estimator_ = estimator_from_state(resolve_classifier(self.estimator), arrays, meta)
        self.mean_ = restored.array(state, "mean", shape=(None,)).astype(np.float64)
        self.scale_ = restored.array(state, "scale", shape=self.mean_.shape, positive=True).astype(np.float64)
        self._synthetic_column = int(np.flatnonzero(np.asarray(self.estimator_.classes_) == 1)[0])
        return self
