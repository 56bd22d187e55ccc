"""Provenance by watermark: Kirchenbauer et al. (2023)'s green-list scheme, its z-test, attacks and radioactivity.

* :class:`Watermark` (gamma, delta, key, context) and its :class:`GreenLists` -- :mod:`.scheme`;
* :func:`detect` / :func:`detect_counts` -- the z-test per sequence or per document of items -- :mod:`.detect`;
* :func:`substitute` and :func:`paraphrase` -- attacks -- :mod:`.attacks`;
* :func:`radioactivity` -- was a model trained on watermarked text (Sander et al. 2024) -- :mod:`.radioactivity`.

The samplers live with their families (``watermark=`` on the categorical, n-gram and transformer families).
"""

from redqueen.watermark.attacks import paraphrase, substitute
from redqueen.watermark.detect import Detection, detect, detect_counts, green_flags, z_scores
from redqueen.watermark.radioactivity import Radioactivity, radioactivity
from redqueen.watermark.scheme import DEFAULT_KEY, GreenLists, Watermark, as_watermark, green_lists

__all__ = ["DEFAULT_KEY", "Detection", "GreenLists", "Radioactivity", "Watermark", "as_watermark", "detect",
           "detect_counts", "green_flags", "green_lists", "paraphrase", "radioactivity", "substitute", "z_scores"]
