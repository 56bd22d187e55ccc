"""The model-collapse profile: one card per run arm or audit, one row per definition of collapse.

Schaeffer et al. (2025) count eight conflicting definitions of model collapse in the literature and
ask for a standard profile instead of a yes/no. :func:`collapse_profile` reports, for each of five
definitions, whether it holds, from which generation, and by how much, with an interval over
replicates:

========== ======================================= ==============================================
row        definition                              metric tested (first one measured), direction
========== ======================================= ==============================================
tails      the real distribution's tails vanish    ``types_lost`` up, ``tail_mass_kept`` down, ``hill0`` down
diversity  variance / diversity shrinks            ``heterozygosity``, ``var_ratio``, ``vendi``, ``distinct_2`` down
error      the fitted model's error grows          ``kl``, ``fitted_mean_sq_error``, ``mean_sq_error``, ``w1``, ``frechet`` up
perplexity real data's perplexity rises            ``ppl_real``, ``nll_real`` up
tradeoff   precision is kept, recall is lost       ``precision - recall`` up (needs both)
========== ======================================= ==============================================

The rule, the same for every row. Let ``x[r, t]`` be the metric of replicate ``r`` at generation
``t`` (0 = the real data or the first model, ``T`` = the last) and ``s`` the direction (+1 when
collapse makes the metric larger). The per-replicate change is ``d_r = s (x[r, T] - x[r, 0])``.
A one-sided one-sample t-test of ``mean(d) > 0`` gives a p-value per row; the p-values of the
rows tested are Holm-corrected together, and a definition **holds** when its corrected p-value is
below ``alpha`` (0.05). **change** is the mean of ``x[r, T] - x[r, 0]`` in the metric's units
with a two-sided t-interval at ``level`` (0.95), and **relative** that mean over ``|mean x[:, 0]|``.
The **onset** of a definition that holds is the first generation ``g >= 1`` from which the same
one-sided test of ``x[:, g']`` against ``x[:, 0]`` rejects at level ``alpha`` (uncorrected) for every
``g' >= g``. With one replicate there is no test: ``holds`` is None and the row reports the change.
Replicates with a non-finite value at either end are left out (the row says how many were used).
For an audit the replicates are disjoint equal-size folds of every input set (see
:mod:`redqueen.audit`), so its intervals measure sampling noise in the files, not drift.

Power (noncentral t): a row tested alone at alpha = 0.05 detects a mean change of 1.4 sd(d) four
times in five with R = 5 replicates (folds), 0.88 sd with R = 10 and 0.58 sd with R = 20; Holm
across several rows needs somewhat more.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable, Mapping

import numpy as np

DEFINITIONS: tuple[tuple[str, str, tuple[tuple[str, int], ...]], ...] = (
    ("tails", "tails of the real distribution vanish", (("types_lost", 1), ("tail_mass_kept", -1), ("hill0", -1))),
    ("diversity", "variance / diversity shrinks",
     (("heterozygosity", -1), ("var_ratio", -1), ("vendi", -1), ("distinct_2", -1))),
    ("error", "error of the fitted model grows",
     (("kl", 1), ("fitted_mean_sq_error", 1), ("mean_sq_error", 1), ("w1", 1), ("frechet", 1))),
    ("perplexity", "real data's perplexity rises", (("ppl_real", 1), ("nll_real", 1))),
    ("tradeoff", "precision kept while recall is lost", (("precision - recall", 1),)),
)
RULE = ("one-sided t-test of s*(x_T - x_0) > 0 over replicates, Holm-corrected over the rows tested; holds when "
        "p_holm < alpha; change = mean(x_T - x_0) with a two-sided t-interval; onset = first generation from "
        "which the uncorrected test against generation 0 rejects at every later generation")


@dataclass(frozen=True)
class ProfileRow:
    """One definition of collapse: what was tested and what came out (NaN / None where not measured)."""

    name: str
    title: str
    metric: str | None
    direction: int
    holds: bool | None
    onset: int | None
    start: float
    end: float
    change: float
    low: float
    high: float
    relative: float
    p_value: float
    p_holm: float
    replicates: int
    generations: int
    note: str = ""


@dataclass(frozen=True)
class CollapseProfile:
    """The card: one :class:`ProfileRow` per definition, with the rule and levels used."""

    rows: tuple[ProfileRow, ...]
    alpha: float
    level: float
    rule: str = RULE

    def row(self, name: str) -> ProfileRow:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"no profile row {name!r}; rows: {[r.name for r in self.rows]}")

    def holding(self) -> list[str]:
        """Names of the definitions that hold."""
        return [r.name for r in self.rows if r.holds]

    def to_dict(self) -> dict:
        """JSON-able: NaN becomes None."""
        def clean(v):
            return None if isinstance(v, float) and not math.isfinite(v) else v

        return {"alpha": self.alpha, "level": self.level, "rule": self.rule,
                "rows": [{k: clean(v) for k, v in asdict(r).items()} for r in self.rows]}


def _one_sided_p(d: np.ndarray) -> float:
    """p-value of the one-sided one-sample t-test of mean(d) > 0 (d without NaN, size >= 2)."""
    from scipy import stats

    sd = float(np.std(d, ddof=1))
    mean = float(np.mean(d))
    if sd == 0.0:
        return 0.0 if mean > 0 else 1.0
    return float(stats.t.sf(mean / (sd / math.sqrt(d.size)), d.size - 1))


def holm(p: Iterable[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (monotone, capped at 1), same order as ``p``."""
    p = np.asarray(list(p), dtype=float)
    order = np.argsort(p, kind="stable")
    m = p.size
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj


def _pick(trajectories: Mapping[str, np.ndarray], candidates) -> tuple[str, int, np.ndarray] | None:
    for metric, direction in candidates:
        if metric == "precision - recall":
            if "precision" in trajectories and "recall" in trajectories:
                x = np.asarray(trajectories["precision"], float) - np.asarray(trajectories["recall"], float)
            else:
                continue
        elif metric in trajectories:
            x = np.asarray(trajectories[metric], float)
        else:
            continue
        x = np.atleast_2d(x)
        if x.shape[1] >= 2 and np.isfinite(x[:, 0]).any() and np.isfinite(x[:, -1]).any():
            return metric, direction, x
    return None


def collapse_profile(trajectories: Mapping[str, np.ndarray], *, alpha: float = 0.05,
                     level: float = 0.95) -> CollapseProfile:
    """The collapse profile of metric trajectories ``{metric: (replicates, generations + 1)}`` (see the module).

    Arrays may hold NaN where a replicate lacks a value. Raises ``ValueError`` for alpha or level
    outside (0, 1).
    """
    from scipy import stats

    if not (0 < alpha < 1 and 0 < level < 1):
        raise ValueError(f"alpha and level must be in (0, 1); got {alpha}, {level}")
    partial = []
    for name, title, candidates in DEFINITIONS:
        picked = _pick(trajectories, candidates)
        if picked is None:
            need = " or ".join(m for m, _ in candidates)
            partial.append(dict(name=name, title=title, metric=None, direction=0, holds=None, onset=None,
                                start=math.nan, end=math.nan, change=math.nan, low=math.nan, high=math.nan,
                                relative=math.nan, p_value=math.nan, replicates=0, generations=0,
                                note=f"not measured (needs {need})"))
            continue
        metric, s, x = picked
        ok = np.isfinite(x[:, 0]) & np.isfinite(x[:, -1])
        x = x[ok]
        raw = x[:, -1] - x[:, 0]
        r = raw.size
        mean0, change = float(np.mean(x[:, 0])), float(np.mean(raw))
        row = dict(name=name, title=title, metric=metric, direction=s, holds=None, onset=None, start=mean0,
                   end=float(np.mean(x[:, -1])), change=change, low=math.nan, high=math.nan,
                   relative=change / abs(mean0) if mean0 != 0 else math.nan, p_value=math.nan, replicates=r,
                   generations=x.shape[1] - 1, note="")
        if r >= 2:
            se = float(np.std(raw, ddof=1)) / math.sqrt(r)
            half = float(stats.t.ppf(0.5 + level / 2, r - 1)) * se
            row.update(low=change - half, high=change + half, p_value=_one_sided_p(s * raw))
            row["_x"] = x
        else:
            row["note"] = "one replicate: no test"
        partial.append(row)
    tested = [i for i, row in enumerate(partial) if not math.isnan(row["p_value"])]
    adjusted = holm([partial[i]["p_value"] for i in tested]) if tested else []
    rows = []
    for i, row in enumerate(partial):
        row["p_holm"] = math.nan
        x = row.pop("_x", None)
        if i in tested:
            row["p_holm"] = float(adjusted[tested.index(i)])
            row["holds"] = bool(row["p_holm"] < alpha)
            if row["holds"]:
                rejects = [_one_sided_p(row["direction"] * (x[:, g] - x[:, 0])[np.isfinite(x[:, g])]) < alpha
                           if np.isfinite(x[:, g]).sum() >= 2 else False for g in range(1, x.shape[1])]
                onset = None
                for g in range(len(rejects), 0, -1):
                    if not rejects[g - 1]:
                        break
                    onset = g
                row["onset"] = onset
        rows.append(ProfileRow(**row))
    return CollapseProfile(tuple(rows), alpha, level)


def _trajectories(records) -> dict[str, dict[str, np.ndarray]]:
    """``{arm: {metric: (replicates, generations + 1)}}`` in one pass over ``records`` (objects with
    ``arm``, ``replicate``, ``generation``, ``metrics`` and optionally ``member``; NaN where missing).

    A replicate is the unit: the members of one population are not independent replicates, so a
    population's value of a metric is the mean over the members that report it."""
    sums: dict[str, dict[tuple[str, int, int], list[float]]] = {}
    for rec in records:
        for name, value in rec.metrics.items():
            cell = sums.setdefault(rec.arm, {}).setdefault((name, rec.replicate, rec.generation), [0.0, 0])
            cell[0] += value
            cell[1] += 1
    out: dict[str, dict[str, np.ndarray]] = {}
    for arm, cells in sums.items():
        reps = sorted({r for _, r, _ in cells})
        gens = sorted({g for _, _, g in cells})
        ri, gi = {r: i for i, r in enumerate(reps)}, {g: i for i, g in enumerate(gens)}
        traj = out[arm] = {}
        for (name, rep, gen), (total, count) in cells.items():
            if name not in traj:
                traj[name] = np.full((len(reps), len(gens)), np.nan)
            traj[name][ri[rep], gi[gen]] = total / count
    return out


def trajectories_of(records, arm: str) -> dict[str, np.ndarray]:
    """``{metric: (replicates, generations + 1)}`` of one arm's records (see :func:`_trajectories`)."""
    return _trajectories(r for r in records if r.arm == arm).get(arm, {})


def run_profiles(records, *, alpha: float = 0.05, level: float = 0.95) -> dict[str, CollapseProfile]:
    """The profile of every arm of a run's records (any iterable, read once: records or the store's
    streamed rows), in order of appearance."""
    return {arm: collapse_profile(traj, alpha=alpha, level=level) for arm, traj in _trajectories(records).items()}


def _fmt(v: float) -> str:
    """The run tables' number format (counts as 3,500, small values as 9.19e-05), '-' for none or non-finite."""
    from redqueen.runtime.display import fmt

    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return fmt(v)


def profile_table(profile: CollapseProfile) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the card as strings, for the terminal and the HTML report."""
    head = ["definition", "metric", "holds", "from gen", "start", "end", "change", "interval", "relative", "p (Holm)", "n"]
    rows = []
    for r in profile.rows:
        holds = ("needs 2+ replicates" if r.holds is None and r.metric and r.replicates < 2 else
                 "-" if r.holds is None else ("yes" if r.holds else "no"))
        interval = "-" if math.isnan(r.low) else f"[{_fmt(r.low)}, {_fmt(r.high)}]"
        rel = "-" if math.isnan(r.relative) else f"{r.relative:+.1%}"
        rows.append([r.title, r.metric or r.note, holds, "-" if r.onset is None else str(r.onset), _fmt(r.start),
                     _fmt(r.end), _fmt(r.change), interval, rel, _fmt(r.p_holm), str(r.replicates)])
    return head, rows
