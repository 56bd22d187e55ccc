"""Simulation against theory: replicate means inside (simultaneous) confidence intervals."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t

#: the power at which :attr:`ComparisonRow.detectable` is stated
POWER = 0.8


@dataclass(frozen=True)
class ComparisonRow:
    """One generation of :func:`compare`: the replicate mean, its confidence interval and the prediction.

    ``detectable`` is the check's power stated as a size: the smallest deviation of the true mean
    from ``prediction`` that this generation's interval would exclude with probability
    :data:`POWER` ((t quantile + z_POWER) x standard error; NaN without an interval).
    """

    t: int
    mean: float
    ci_low: float
    ci_high: float
    prediction: float
    inside: bool
    replicates: int
    detectable: float = float("nan")

    def as_dict(self) -> dict:
        return asdict(self)


def compare(simulated: np.ndarray, predicted: np.ndarray, level: float = 0.99, *, simultaneous: bool = True,
            t: np.ndarray | None = None, atol: float = 0.0) -> tuple[ComparisonRow, ...]:
    """Check each generation's replicate mean against the prediction.

    ``simulated`` has shape ``(replicates, T+1)`` (NaNs are dropped per
    generation), ``predicted`` ``(T+1,)``; ``t`` labels the columns (default
    ``0..T``). The interval is Student's t at ``level``; with ``simultaneous``
    (default) Bonferroni over the ``T+1`` generations, so that a correct
    theory has every row inside with probability >= ``level``. ``inside``
    allows ``atol`` slack (for columns with no spread). Raises ``ValueError``
    if the shapes do not match or ``level`` is not in (0, 1).
    """
    sim = np.atleast_2d(np.asarray(simulated, dtype=np.float64))
    pred = np.asarray(predicted, dtype=np.float64).reshape(-1)
    if sim.shape[1] != pred.shape[0]:
        raise ValueError(f"simulated has {sim.shape[1]} generations but predicted has {pred.shape[0]}; "
                         "pass simulated as (replicates, T+1)")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    labels = np.arange(pred.shape[0]) if t is None else np.asarray(t).reshape(-1)
    tail = (1 - level) / 2 / (pred.shape[0] if simultaneous else 1)
    z_power = float(norm.ppf(POWER))
    crits: dict[int, float] = {}  # the t quantile per replicate count: one scipy call each, not one per generation
    rows = []
    for j in range(pred.shape[0]):
        col = sim[:, j][np.isfinite(sim[:, j])]
        r = col.size
        mean = float(col.mean()) if r else float("nan")
        if r >= 2:
            se = float(col.std(ddof=1) / math.sqrt(r))
            crit = crits.get(r)
            if crit is None:
                crit = crits[r] = float(student_t.ppf(1 - tail, r - 1))
            lo, hi = mean - crit * se, mean + crit * se
            detectable = (crit + z_power) * se
        else:
            lo = hi = detectable = float("nan")
        inside = bool(lo - atol <= pred[j] <= hi + atol) if r >= 2 else False
        rows.append(ComparisonRow(int(labels[j]), mean, lo, hi, float(pred[j]), inside, r, detectable))
    return tuple(rows)


def relative_power(rows: tuple[ComparisonRow, ...]) -> tuple[float, float]:
    """(median, largest) over ``rows`` of ``detectable / |prediction|``: the relative deviation from the
    theory that the check catches with probability :data:`POWER` (generations predicting 0 left out)."""
    rel = [r.detectable / abs(r.prediction) for r in rows if abs(r.prediction) > 1e-12 and math.isfinite(r.detectable)]
    if not rel:
        return float("nan"), float("nan")
    return float(np.median(rel)), float(np.max(rel))


def replicates_for(rows: tuple[ComparisonRow, ...], target: float) -> int | None:
    """Replicates that would bring the median relative detectable deviation down to ``target``
    (standard errors shrink as 1/sqrt(R)); None when it is already there or unknown."""
    median, _ = relative_power(rows)
    reps = max((r.replicates for r in rows), default=0)
    if not math.isfinite(median) or median <= target or reps < 2:
        return None
    return int(math.ceil(reps * (median / target) ** 2))

