"""Records as pandas DataFrames, for notebooks: ``result.to_frame()`` and ``Store(...).frame(run)``.

One row per record: arm x replicate x (member, where records carry one) x generation, with the
record's ``status``, ``seconds``, ``train_size`` and one float column per metric (NaN where a
record lacks it). pandas is optional (``pip install 'redqueen[frames]'``); it is imported here
only, and only plain constructors are used (no API that changed in pandas 3).
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

KEYS = ("arm", "replicate", "member", "generation")


def _pandas():
    try:
        import pandas
    except ImportError:
        raise ImportError("DataFrames need pandas: pip install 'redqueen[frames]' (or pip install pandas)") from None
    return pandas


def records_frame(records: Iterable, *, run_id: str | None = None):
    """A ``pandas.DataFrame`` of records (see the module); ``attrs["run_id"]`` is set when given."""
    pd = _pandas()
    recs = list(records)
    members = any(getattr(r, "member", None) is not None for r in recs)
    names = sorted({n for r in recs for n in r.metrics})
    cols: dict[str, object] = {
        "arm": pd.array([r.arm for r in recs], dtype="string"),
        "replicate": np.array([r.replicate for r in recs], dtype=np.int64),
    }
    if members:
        cols["member"] = np.array([getattr(r, "member", 0) or 0 for r in recs], dtype=np.int64)
    cols["generation"] = np.array([r.generation for r in recs], dtype=np.int64)
    cols["status"] = pd.array([r.status for r in recs], dtype="string")
    cols["seconds"] = np.array([r.seconds for r in recs], dtype=np.float64)
    cols["train_size"] = np.array([r.train_size for r in recs], dtype=np.int64)
    for n in names:
        cols[n if n not in cols else f"metric_{n}"] = np.array([r.metrics.get(n, np.nan) for r in recs], dtype=np.float64)
    frame = pd.DataFrame(cols)
    if run_id is not None:
        frame.attrs["run_id"] = run_id
    return frame
