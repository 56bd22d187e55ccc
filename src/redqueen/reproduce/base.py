"""What a packaged reproduction is: claims with their sources, checks, measured values, verdicts.

A :class:`Reproduction` names a published experiment and a ``run(ctx)``
function that runs it at ``ctx.scale`` (``"quick"``: CI-sized, ``"paper"``:
what the paper ran, where this machine allows) through the public runtime
and returns an :class:`Outcome`: one :class:`Row` per :class:`Claim` with
what we measured. A claim is the paper's number or statement, where it is
printed (paper, table/figure or theorem), and a :class:`Check` that turns
our value into a verdict. Anything with a ``run(ctx)`` fits: an evolve
experiment registers the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from redqueen.runtime.config import ConfigError

SCALES = ("quick", "paper")
Z99 = 2.5758  # two-sided 99% normal quantile: how many standard errors a measured value may sit off


class ReproductionError(ConfigError):
    """A reproduction that cannot run as asked (unknown name, missing corpus); one line with the fix."""


@dataclass(frozen=True)
class Measured:
    """Our value, its standard error over replicates/seeds (0 if not estimated) and a note."""

    value: float
    se: float = 0.0
    note: str = ""

    def text(self, digits: int = 4) -> str:
        if not math.isfinite(self.value):
            return str(self.value)
        v = f"{self.value:.{digits}g}"
        return f"{v} ± {self.se:.2g}" if self.se > 0 else v


@dataclass(frozen=True)
class Check:
    """How a measured value is judged: ``close`` (within ``rtol``/``atol`` of ``value``, widened by
    2.58 standard errors), ``at_most`` / ``at_least`` ``value`` (with the same widening), or
    ``between`` ``value`` and ``high``."""

    kind: str
    value: float
    high: float | None = None
    rtol: float = 0.0
    atol: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("close", "at_most", "at_least", "between"):
            raise ValueError(f"unknown check kind {self.kind!r}")
        if self.kind == "between" and (self.high is None or self.high < self.value):
            raise ValueError("a 'between' check needs high >= value")

    def passes(self, m: Measured) -> bool:
        if not math.isfinite(m.value):
            return False
        slack = Z99 * m.se
        if self.kind == "close":
            return abs(m.value - self.value) <= max(self.rtol * abs(self.value), self.atol) + slack
        if self.kind == "at_most":
            return m.value <= self.value + slack
        if self.kind == "at_least":
            return m.value >= self.value - slack
        return self.value - slack <= m.value <= self.high + slack

    def text(self) -> str:
        if self.kind == "close":
            tol = max(self.rtol * abs(self.value), self.atol)
            return f"{self.value:.4g}" + (f" ± {tol:.2g}" if tol else "")
        if self.kind == "at_most":
            return f"≤ {self.value:.4g}"
        if self.kind == "at_least":
            return f"≥ {self.value:.4g}"
        return f"{self.value:.4g} – {self.high:.4g}"


def close(value: float, *, rtol: float = 0.0, atol: float = 0.0) -> Check:
    return Check("close", float(value), rtol=rtol, atol=atol)


def at_most(value: float) -> Check:
    return Check("at_most", float(value))


def at_least(value: float) -> Check:
    return Check("at_least", float(value))


def between(low: float, high: float) -> Check:
    return Check("between", float(low), float(high))


@dataclass(frozen=True)
class Claim:
    """A published number or statement: ``what`` in words, its ``source`` and the check our value must pass."""

    key: str
    what: str
    source: str
    check: Check
    published: str = ""  # the paper's own wording or number, when it differs from the check's text

    def row(self, measured: Measured, scale: str) -> "Row":
        return Row(self, measured, "agrees" if self.check.passes(measured) else "differs", scale)


@dataclass(frozen=True)
class Row:
    """One line of the table: published | ours | verdict."""

    claim: Claim
    measured: Measured
    verdict: str
    scale: str

    def as_dict(self) -> dict:
        c, m = self.claim, self.measured
        return {"key": c.key, "what": c.what, "source": c.source, "published": c.published or c.check.text(),
                "check": c.check.text(), "ours": m.value, "se": m.se, "note": m.note, "verdict": self.verdict,
                "scale": self.scale}


@dataclass(frozen=True)
class Outcome:
    """What a reproduction returns: its rows, the store's run ids, and figures (name -> PNG bytes)."""

    rows: tuple[Row, ...]
    run_ids: tuple[str, ...] = ()
    figures: tuple[tuple[str, bytes], ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def agrees(self) -> bool:
        return all(r.verdict == "agrees" for r in self.rows)


@dataclass(frozen=True)
class Context:
    """What a run gets: the scale, master seeds (``None``: the config's), the data folder, the store,
    a cache folder for expensive steps shared across runs (pre-trained weights), and ``log(text)``."""

    scale: str = "quick"
    seeds: tuple[int, ...] | None = None
    data: Path | None = None
    store: object | None = None
    cache: Path | None = None
    log: Callable[[str], None] = field(default=lambda text: None)

    def corpus(self, relative: str, *, name: str) -> Path:
        """``data / relative``; raises :class:`ReproductionError` naming ``--data`` when it is not there."""
        if self.data is None or not (self.data / relative).is_file():
            where = "no data folder was found" if self.data is None else f"it is not in {self.data}"
            raise ReproductionError(f"{name} needs the corpus {relative} and {where}; pass --data DIR "
                                    f"(a folder holding {relative}, e.g. shared/data)")
        return self.data / relative


@dataclass(frozen=True)
class Reproduction:
    """A packaged published experiment.

    ``name`` is what ``redqueen reproduce NAME`` takes; ``paper`` the citation; ``summary`` one line;
    ``run(ctx) -> Outcome``; ``needs`` what must be installed or found (``"torch"``, corpus paths
    relative to the data folder); ``minutes`` the rough wall time per scale on the 2-core development
    machine; ``claims`` the claims its rows answer (for ``--list`` and the docs).
    """

    name: str
    paper: str
    summary: str
    run: Callable[[Context], Outcome]
    claims: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    minutes: dict[str, float] = field(default_factory=dict)
