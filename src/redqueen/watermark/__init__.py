"""Provenance by watermark: Kirchenbauer et al. (2023)'s green-list scheme, its z-test, attacks and radioactivity."""

from redqueen.watermark.detect import Detection, detect, detect_counts, green_flags, z_scores
from redqueen.watermark.scheme import DEFAULT_KEY, GreenLists, Watermark, as_watermark, green_lists

__all__ = ["DEFAULT_KEY", "Detection", "GreenLists", "Watermark", "as_watermark", "detect", "detect_counts",
           "green_flags", "green_lists", "z_scores"]
