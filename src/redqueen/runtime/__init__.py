"""Running experiments: the results store (and, beside it, config, executors, checkpoints)."""

from redqueen.runtime.store import (
    DistributionRow,
    MetricRow,
    RunInfo,
    SampleRow,
    Store,
    UnknownRun,
    evolve_record,
)
from redqueen.runtime.provenance import git_commit, new_run_id, provenance

__all__ = [
    "DistributionRow", "MetricRow", "RunInfo", "SampleRow", "Store", "UnknownRun", "evolve_record", "git_commit",
    "new_run_id", "provenance",
]
