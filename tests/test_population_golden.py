"""P = 1 populations give the records the lineage runtime gave before populations existed.

tests/data/golden_records.json was written by tests/golden.py on the code before the population
redesign (commit 03ea746). On a machine with the same library versions the records must be
bitwise equal (floats compared by their hex form); elsewhere BLAS kernels may round differently,
so floats are compared to 1e-9 relative and everything else exactly; the neural cases, whose
training amplifies rounding, are compared only on the same fingerprint.
"""

import json
import math

import numpy as np
import pytest

import golden

EXPECTED = json.loads(golden.DATA.read_text())
SAME_MACHINE = EXPECTED["fingerprint"] == golden.fingerprint()


def _close(a: str, b: str, rel: float = 1e-9) -> bool:
    x, y = float.fromhex(a), float.fromhex(b)
    if SAME_MACHINE:
        return a == b
    return (math.isnan(x) and math.isnan(y)) or x == y or math.isclose(x, y, rel_tol=rel, abs_tol=1e-12)


@pytest.mark.parametrize("name", list(golden.CASES))
def test_p1_records_equal_the_lineage_runtime(name):
    rel = 1e-9
    if name in golden.NEURAL:
        pytest.importorskip("torch")
        rel = 1e-6
    want = EXPECTED["cases"][name]
    got = golden.run(name)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        key = (w["arm"], w["replicate"], w["generation"])
        for field in ("arm", "replicate", "generation", "samples", "train_size", "status", "reason"):
            assert g[field] == w[field], (key, field)
        assert sorted(g["distributions"]) == sorted(w["distributions"]), key
        for d, hexed in w["distributions"].items():
            a, b = (np.frombuffer(bytes.fromhex(h), np.float32) for h in (g["distributions"][d], hexed))
            assert a.tobytes() == b.tobytes() if SAME_MACHINE else np.allclose(a, b, rtol=1e-5), (key, d)
        assert sorted(g["metrics"]) == sorted(w["metrics"]), key
        bad = [m for m in w["metrics"] if not _close(g["metrics"][m], w["metrics"][m], rel)]
        assert not bad, (key, bad)
