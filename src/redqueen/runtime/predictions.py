"""Theory next to simulation: curves for the report and the `redqueen theory` table."""

from __future__ import annotations


def theory_curves(store, run_ids):
    """A callable for :func:`redqueen.report.write_report`: the closed-form curve of a metric for an arm, or None."""
    return None
