"""Why a generation failed, by cause: the status and reason a record carries.

* ``diverged`` -- the model blew up numerically: floating-point errors, linear algebra
  failing on a degenerate fit, the ``ValueError`` s numerical libraries (numpy, scipy,
  scikit-learn, torch, ...) raise for one (scikit-learn's "ill-defined empirical covariance"),
  or :class:`Degenerate`, which our own families raise when the model or its data has
  degenerated past the next step (a language model whose samples are all empty). Config
  mistakes that would raise the same types are caught when the experiment is built.
  A ``ValueError`` raised by redqueen's own code is not a divergence: it is a bug.
* ``failed`` -- not redqueen's doing: a plug-in family raised (any exception), or memory ran out.
* ``error`` -- anything else is a bug in redqueen; the reason says so and carries the
  exception's type, message and where it was raised.

A failure ends its population; other arms go on.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import numpy as np

from redqueen.models.base import Degenerate
from redqueen.models.sklearn import PluginError

#: numerical failures of a model: they end the arm as 'diverged' wherever they are raised
DIVERGENCE = (FloatingPointError, ArithmeticError, np.linalg.LinAlgError, Degenerate)

#: libraries whose ``ValueError`` s are a model's numerical failure (raised from their code)
NUMERICAL_LIBRARIES = ("numpy", "scipy", "sklearn", "torch", "ot", "ribs", "cma", "transformers", "peft")


def _library_roots() -> tuple[str, ...]:
    """The source folders of the :data:`NUMERICAL_LIBRARIES` that are imported."""
    roots = []
    for name in NUMERICAL_LIBRARIES:
        f = getattr(sys.modules.get(name), "__file__", None)
        if f:
            roots.append(str(Path(f).resolve().parent) + "/")
    return tuple(roots)


def _numerical_value_error(e: BaseException) -> bool:
    """Whether ``e`` -- or an exception it was raised from or during -- is a ``ValueError`` raised
    inside a numerical library's own code."""
    roots, seen = _library_roots(), set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, ValueError) and e.__traceback__ is not None:
            where = Path(traceback.extract_tb(e.__traceback__)[-1].filename)
            # compiled (Cython) frames name their source relative to the package: numpy/random/_generator.pyx
            if (where.parts[0] in NUMERICAL_LIBRARIES if not where.is_absolute() and where.parts
                    else str(where.resolve()).startswith(roots)):
                return True
        e = e.__cause__ or e.__context__
    return False

#: metrics that are numbers for every model that can score data; NaN there means the model's log-likelihoods are NaN
MUST_NOT_BE_NAN = ("nll_real", "loglik", "ppl_real", "heterozygosity")

REASON_CHARS = 300


def failure_line(e: BaseException) -> str:
    """``Type: first line of the message``, at most :data:`REASON_CHARS` characters."""
    return f"{type(e).__name__}: {e}".splitlines()[0][:REASON_CHARS] if str(e) else type(e).__name__


def classify(e: BaseException) -> tuple[str | None, str]:
    """``(status, reason)`` for an exception raised by a generation; status None means re-raise
    (Ctrl-C, SIGTERM and interpreter exits are not failures of the model)."""
    if isinstance(e, (KeyboardInterrupt, SystemExit, GeneratorExit)):
        return None, ""
    if isinstance(e, PluginError):
        return "failed", str(e)[:REASON_CHARS]
    if isinstance(e, MemoryError):
        return "failed", "out of memory: " + (failure_line(e) if str(e) else "lower n, reference_size or the model size")
    if isinstance(e, DIVERGENCE) or _numerical_value_error(e):
        return "diverged", failure_line(e)
    frame = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ is not None else None
    where = f" at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" if frame else ""
    return "error", f"bug in redqueen ({failure_line(e)}{where}); please report it"[:REASON_CHARS]
