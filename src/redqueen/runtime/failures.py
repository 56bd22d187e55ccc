"""Why a generation failed, by cause: the status and reason a record carries.

* ``diverged`` -- the model blew up numerically: floating-point errors, linear algebra
  failing on a degenerate fit, or the ``ValueError`` s numerical libraries raise for one
  (scikit-learn's "ill-defined empirical covariance"). Config mistakes that would raise the
  same types are caught when the experiment is built, before anything runs.
* ``failed`` -- not redqueen's doing: a plug-in family raised (any exception), or memory ran out.
* ``error`` -- anything else is a bug in redqueen; the reason says so and carries the
  exception's type, message and where it was raised.

A failure ends its population; other arms go on.
"""

from __future__ import annotations

import traceback

import numpy as np

from redqueen.models.sklearn import PluginError

#: numerical failures of a model: they end the arm as 'diverged'
DIVERGENCE = (FloatingPointError, ArithmeticError, np.linalg.LinAlgError, ValueError)

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
    if isinstance(e, DIVERGENCE):
        return "diverged", failure_line(e)
    frame = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ is not None else None
    where = f" at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" if frame else ""
    return "error", f"bug in redqueen ({failure_line(e)}{where}); please report it"[:REASON_CHARS]
