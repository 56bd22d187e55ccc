"""RunResult, the Python API's view of a run: unknown arms and metrics name what exists."""

import numpy as np
import pytest

import redqueen

SMALL = {
    "name": "small", "seed": 1, "generations": 3, "n": 50, "replicates": 2,
    "world": {"kind": "zipf", "k": 20}, "family": {"kind": "categorical"},
    "arms": [{"name": "replace"}, {"name": "fresh", "regime": "fresh", "real_fraction": 0.2}],
}


@pytest.fixture(scope="module")
def result():
    return redqueen.run_experiment(redqueen.validate(SMALL))


def test_trajectory_and_final_shapes(result):
    h = result.trajectory("replace", "heterozygosity")
    assert h.shape == (2, 4) and np.all(np.isfinite(h))
    np.testing.assert_array_equal(result.final("fresh", "heterozygosity"), result.trajectory("fresh", "heterozygosity")[:, -1])


@pytest.mark.parametrize("method", ["trajectory", "final"])
def test_unknown_arm_is_a_key_error_listing_the_arms(result, method):
    with pytest.raises(KeyError, match=r"no arm 'no-such-arm'.*\['replace', 'fresh'\]"):
        getattr(result, method)("no-such-arm", "heterozygosity")


@pytest.mark.parametrize("method", ["trajectory", "final"])
def test_misspelt_metric_is_a_key_error_listing_the_metrics(result, method):
    with pytest.raises(KeyError, match=r"no metric 'heterozygocity'.*'heterozygosity'"):
        getattr(result, method)("replace", "heterozygocity")
