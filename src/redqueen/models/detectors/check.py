"""The public contract check every detector passes (as scikit-learn's ``check_estimator``), also the plug-in check."""

from __future__ import annotations

from typing import Callable

import numpy as np

from redqueen.data import Data


def _arrays_only(state) -> None:
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, np.ndarray) for k, v in state.items()):
        raise ValueError("state() must return a dict of str -> numpy array")
    bad = [k for k, v in state.items() if v.dtype.kind not in "biuf"]
    if bad:
        raise ValueError(f"state() holds non-numeric arrays ({', '.join(bad[:3])}); pack metadata with pack_meta")


def check_detector(make: Callable[[], object], real: Data, synthetic: Data, seed: int = 0) -> None:
    """Fit a fresh detector from ``make()`` on ``real`` and ``synthetic``; raise ``ValueError`` naming what is off.

    Checks: ``fit`` returns the detector; ``score`` of each set has the shape of
    ``data.weights()`` with finite values in [0, 1]; the same seed gives the same
    scores; ``state()`` is a dict of numeric arrays that survives a safetensors
    round trip, and a fresh ``make()`` loaded from it scores bit for bit as the
    fitted detector.
    """
    from safetensors.numpy import load, save

    def fitted():
        try:
            det = make()
            out = det.fit(real, synthetic, np.random.default_rng(seed))
        except Exception as e:
            raise ValueError(f"detector failed to fit {len(real)} real and {len(synthetic)} synthetic items: "
                             f"{type(e).__name__}: {e}") from None
        if out is not det:
            raise ValueError("fit() must return the detector itself")
        return det

    det = fitted()
    scores = {}
    for label, data in (("real", real), ("synthetic", synthetic)):
        try:
            s = np.asarray(det.score(data))
        except Exception as e:
            raise ValueError(f"detector failed to score {label} data: {type(e).__name__}: {e}") from None
        if s.shape != data.weights().shape:
            raise ValueError(f"score({label}) has shape {s.shape}; expected {data.weights().shape}")
        if not (np.all(np.isfinite(s)) and np.all((s >= 0) & (s <= 1))):
            raise ValueError(f"score({label}) must be finite and in [0, 1]")
        scores[label] = s
    again = fitted()
    if not all(np.array_equal(again.score(d), scores[k]) for k, d in (("real", real), ("synthetic", synthetic))):
        raise ValueError("the same seed gave different scores: the detector has randomness outside its rng")
    try:
        state = det.state()
        _arrays_only(state)
        restored = make().load_state(load(save(state)))
    except ValueError:
        raise
    except Exception as e:
        raise ValueError(f"detector state does not round-trip: {type(e).__name__}: {e}") from None
    for label, data in (("real", real), ("synthetic", synthetic)):
        if not np.array_equal(restored.score(data), scores[label]):
            raise ValueError(f"a detector restored from state() scores {label} data differently from the fitted one")
