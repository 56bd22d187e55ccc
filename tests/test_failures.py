"""Why a generation failed: a ValueError is a divergence only when a numerical library raised it.

DESIGN: a model blowing up numerically ends its arm as ``diverged``; a bug in redqueen must never
hide behind that word. Before, every ``ValueError`` counted as divergence, so a programming error
in a coupling (``sources @ None``) was recorded as the model diverging.
"""

from __future__ import annotations

import numpy as np
import pytest

from redqueen.models.base import Degenerate
from redqueen.runtime.failures import classify


def _raised(fn):
    try:
        fn()
    except BaseException as e:  # noqa: BLE001 - the test inspects it
        return e
    raise AssertionError("expected an exception")


def _ours():
    raise ValueError("operands could not be broadcast together")  # raised here, in our code: a bug


def test_a_value_error_raised_by_redqueen_code_is_a_bug_not_a_divergence():
    status, reason = classify(_raised(_ours))
    assert status == "error" and "bug in redqueen" in reason and "test_failures.py" in reason


def test_numpy_value_errors_are_divergence():
    e = _raised(lambda: np.random.default_rng(0).choice(3, p=[0.5, np.nan, 0.5]))
    assert classify(e)[0] == "diverged"
    e = _raised(lambda: np.linalg.cholesky(np.array([[1.0, 2.0], [2.0, 1.0]])))
    assert classify(e)[0] == "diverged"  # LinAlgError


def test_scikit_learns_ill_defined_covariance_is_divergence():
    from sklearn.mixture import GaussianMixture

    x = np.zeros((20, 2))  # every point the same: EM cannot fit a covariance
    e = _raised(lambda: GaussianMixture(2, reg_covar=0.0, random_state=0).fit(x))
    assert isinstance(e, ValueError) and classify(e)[0] == "diverged"


def test_a_library_value_error_wrapped_by_our_code_is_still_divergence():
    def wrap():
        try:
            np.random.default_rng(0).choice(3, p=[0.5, np.nan, 0.5])
        except ValueError as inner:
            raise ValueError(f"sampling failed: {inner}") from inner

    assert classify(_raised(wrap))[0] == "diverged"


def test_degenerate_models_diverge_wherever_they_raise():
    def fit():
        raise Degenerate("cannot fit a language model to no sequences at all")

    assert classify(_raised(fit)) == ("diverged", "Degenerate: cannot fit a language model to no sequences at all")


def test_a_regression_with_too_few_rows_left_is_degenerate():
    from redqueen.data import Points
    from redqueen.models.regression import LinearRegressionFamily

    e = _raised(lambda: LinearRegressionFamily().fit(Points(np.ones((3, 6)))))
    assert isinstance(e, Degenerate) and classify(e)[0] == "diverged"


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(3)])
def test_interrupts_are_not_failures(exc):
    assert classify(exc)[0] is None
