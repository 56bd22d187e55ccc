"""The watermark's z-test as a detector: nothing to learn, the key is the detector.

For :class:`~redqueen.data.Sequences`, ``score`` is one minus the z-test's
one-sided p-value (Hugging Face's "confidence"): a monotone function of ``z``,
so thresholds, AUC and TPR at a false-positive rate read the same as on ``z``
(``z > 4`` is ``score > 1 - 3.17e-5``), but not a posterior P(synthetic),
which would need the share of watermarked text and the watermark's strength.
For :class:`~redqueen.data.Counts` (i.i.d. items, ``context = 0``) the only
evidence an item carries is its colour: ``score`` is 1 for the types on the
green list and 0 for the others (the document-level test is
:func:`redqueen.watermark.detect_counts`).
"""

from __future__ import annotations

import numpy as np

from redqueen.data import Counts, Data, Sequences
from redqueen.models.detectors.base import check_kind, pack_meta, unpack_meta
from redqueen.watermark import Detection, Watermark, as_watermark, detect


class WatermarkDetector:
    """``watermark`` (a :class:`~redqueen.watermark.Watermark` or dict); ``vocab_size`` of its green lists
    (default: the data's vocabulary); ``ignore_repeated`` counts each distinct n-gram once."""

    def __init__(self, *, watermark, vocab_size: int | None = None, ignore_repeated: bool = False):
        self.watermark = watermark
        self.vocab_size = vocab_size
        self.ignore_repeated = ignore_repeated

    @property
    def _wm(self) -> Watermark:
        return as_watermark(self.watermark)

    def fit(self, real: Data, synthetic: Data, rng: np.random.Generator) -> "WatermarkDetector":
        """Nothing to fit; returns ``self`` (the protocol's shape, so regimes can treat all detectors alike)."""
        return self

    def detection(self, data: Sequences) -> Detection:
        """The z-test per sequence (z, p-value, green and scored counts)."""
        check_kind(data, (Sequences,), "WatermarkDetector.detection")
        return detect(self._wm, data, vocab_size=self.vocab_size, ignore_repeated=self.ignore_repeated)

    def score(self, data: Data) -> np.ndarray:
        check_kind(data, (Sequences, Counts), "WatermarkDetector")
        if isinstance(data, Counts):
            wm = self._wm
            if wm.context != 0:
                raise ValueError("i.i.d. items have no previous token: a categorical watermark needs context = 0")
            return wm.greens(data.k).mask(np.ones(1, np.int64))[0].astype(np.float64)
        return 1.0 - self.detection(data).p_value

    def state(self) -> dict[str, np.ndarray]:
        wm = self._wm
        meta = {"gamma": wm.gamma, "delta": wm.delta, "key": int(wm.key), "context": int(wm.context),
                "vocab_size": self.vocab_size, "ignore_repeated": self.ignore_repeated}
        return {"meta": pack_meta(meta)}

    def load_state(self, state: dict[str, np.ndarray]) -> "WatermarkDetector":
        meta = unpack_meta(state["meta"])
        self.vocab_size, self.ignore_repeated = meta.pop("vocab_size"), meta.pop("ignore_repeated")
        self.watermark = Watermark(**meta)
        return self
