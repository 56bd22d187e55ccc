"""Is a run whole? Every lineage of the stored config, every generation, nothing after an end.

Written over the store's rows generically: a lineage is one value of each
key column of ``generations`` besides ``run_id`` and ``generation`` (today
arm and replicate; a ``member`` column joins by itself, with each arm's
``members`` from the config). The values a column must take in each arm come
from the stored config through :data:`AXES`; a key column without an axis is
checked on the values present. A lineage is whole when
its generations are exactly 0..last and it ends at the config's last
generation or with a record whose status is not ``ok`` (a diverged arm ends
early by design), and every ``ok`` generation has its metrics: of the tables
that refer to a generation row only ``metrics`` is written for every one
(``samples``, ``distributions`` and ``parents`` are kept at some generations
only, and a record that failed has no metrics).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, Iterable

#: key column of ``generations`` -> the values it takes in one arm of a run of this config (arguments: the whole
#: config and that arm's table)
AXES: dict[str, Callable[[dict, dict], list]] = {
    "arm": lambda cfg, arm: [arm["name"]],
    "replicate": lambda cfg, arm: list(range(int(cfg["replicates"]))),
    "member": lambda cfg, arm: list(range(int(arm.get("members", 1)))),
}


def planned_generations(config: dict) -> int | None:
    """The last generation of every lineage of a run with this config (None when the run kind has none)."""
    try:
        return int(config["generations"]) if isinstance(config.get("arms"), list) and "replicates" in config else None
    except (TypeError, ValueError, KeyError):
        return None


@dataclass(frozen=True)
class Problem:
    lineage: tuple  # the key values, in key-column order
    what: str  # 'missing' | 'gap' | 'unfinished' | 'after end' | 'unplanned' | 'unmeasured'
    first_bad: int  # the first generation to recompute (records from here on are dropped by a repair)
    detail: str
    quiet: frozenset = frozenset()  # key columns not worth naming (the member of a one-member population)

    def line(self, columns: tuple[str, ...]) -> str:
        who = " ".join(f"{c} {v}" for c, v in zip(columns, self.lineage) if c not in self.quiet)
        return f"{who}: {self.detail}"


def _ranges(gens: Iterable[int]) -> str:
    out, gens = [], sorted(gens)
    for _, grp in itertools.groupby(enumerate(gens), lambda p: p[1] - p[0]):
        g = [v for _, v in grp]
        out.append(str(g[0]) if len(g) == 1 else f"{g[0]}-{g[-1]}")
    shown = ", ".join(out[:8])
    return shown + (f" and {len(out) - 8} more ranges" if len(out) > 8 else "")


def check_rows(config: dict, columns: tuple[str, ...], rows: Iterable[tuple],
               unmeasured: Iterable[tuple] = ()) -> list[Problem] | None:
    """Problems of a run's ``rows`` = ``(*key values, generation, status)``, and of ``unmeasured`` =
    ``(*key values, generation)`` of its ``ok`` generation rows that have no metric rows; None when the config
    plans no generations (an evolve run), [] when the run is whole."""
    last = planned_generations(config)
    if last is None:
        return None
    seen: dict[tuple, dict[int, str]] = {}
    for *key, gen, status in rows:
        seen.setdefault(tuple(key), {})[int(gen)] = status
    bare: dict[tuple, list[int]] = {}
    for *key, gen in unmeasured:
        bare.setdefault(tuple(key), []).append(int(gen))
    planned: set[tuple] = set()
    solo: set[str] = set()  # arms whose populations have one member
    for arm in config.get("arms") or ():
        if isinstance(arm, dict) and arm.get("members", 1) == 1:
            solo.add(arm.get("name"))
        axes = []
        for i, col in enumerate(columns):
            try:
                values = AXES[col](config, arm) if col in AXES else None
            except (KeyError, TypeError, ValueError):
                values = None
            axes.append(values if values is not None else sorted({k[i] for k in seen}))
        planned.update(itertools.product(*axes))
    problems = []
    arm_at = columns.index("arm") if "arm" in columns else None
    for key in sorted(planned | set(seen), key=repr):
        gens = seen.get(key)
        if key not in planned:
            problems.append(Problem(key, "unplanned", 0, f"{len(gens)} records of a lineage the config does not have"))
            continue
        if not gens:
            problems.append(Problem(key, "missing", 0, "no records"))
            continue
        ended = next((g for g in sorted(gens) if gens[g] != "ok"), None)
        end = last if ended is None else ended
        missing = [g for g in range(end + 1) if g not in gens]
        extra = [g for g in gens if g > end]
        if missing and missing[-1] < max(gens):
            problems.append(Problem(key, "gap", missing[0], f"generations {_ranges(missing)} are missing"))
        elif missing:
            problems.append(Problem(key, "unfinished", missing[0],
                                    f"stops at generation {missing[0] - 1} of {last}"))
        if bare.get(key):
            problems.append(Problem(key, "unmeasured", min(bare[key]),
                                    f"generations {_ranges(bare[key])} have no metrics"))
        if extra:
            why = f"its end at generation {ended} ({gens[ended]})" if ended is not None else f"generation {last}"
            first = min(extra) if not missing else min(missing[0], min(extra))
            problems.append(Problem(key, "after end", first, f"generations {_ranges(extra)} come after {why}"))
    quiet = frozenset({"member"})
    return [Problem(p.lineage, p.what, p.first_bad, p.detail, quiet)
            if arm_at is not None and p.lineage[arm_at] in solo else p for p in problems]


# ------------------------------------------------------------------ a stored config's shape

_NUMBER, _WHOLE, _TEXT, _TABLE, _LIST = "a number", "a whole number", "a string", "a table", "a list"
_KIND = "a string or a table"  # a curation step's detector is its kind, an arena's its table
#: the keys of a stored config that the readers (show, report, check, export) take as they are, and what each
#: must be; a key a config lacks is not checked (configs of other versions lack some)
TOP = {"name": _TEXT, "seed": _WHOLE, "generations": _WHOLE, "n": _WHOLE, "replicates": _WHOLE,
       "reference_size": _WHOLE, "world": _TABLE, "family": _TABLE, "arms": _LIST}
ARM = {"name": _TEXT, "members": _WHOLE, "regime": _TEXT, "real_fraction": _NUMBER, "real_source": _TEXT,
       "budget": _WHOLE, "family": _TABLE, "curation": _LIST, "couplings": _LIST}
FAMILY = {"kind": _TEXT, "alpha": _NUMBER, "temperature": _NUMBER, "weight_temperature": _NUMBER, "top_p": _NUMBER,
          "top_k": _WHOLE}
STEP = {"kind": _TEXT, "rate": _NUMBER, "topology": _TEXT, "every": _WHOLE, "operator": _TEXT, "children": _WHOLE,
        "alpha": _NUMBER, "score": _TEXT, "cells": _WHOLE, "fraction": _NUMBER, "regime": _TEXT, "heldout": _WHOLE,
        "detector": _KIND, "genes": _LIST}


#: keys a run may store as null (unset)
OPTIONAL = {"budget", "top_k"}


def _is(value, what: str, key: str) -> bool:
    if value is None:
        return key in OPTIONAL
    if what == _WHOLE:
        return isinstance(value, int) and not isinstance(value, bool)
    if what == _NUMBER:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, {_TEXT: str, _TABLE: dict, _LIST: list, _KIND: (str, dict)}[what])


def _table(d: dict, keys: dict, where: str) -> str | None:
    for key, what in keys.items():
        if key in d and not _is(d[key], what, key):
            return f"{where}{key} is {d[key]!r}, not {what}"
    return None


def config_damage(config) -> str | None:
    """What is wrong with the shape of a stored config (``"arms[0].members is '3', not a whole number"``), or
    None: the keys the readers use have the types a run writes. Not a validation: a config of another
    version, with keys this one does not know or lacks, passes."""
    if not isinstance(config, dict):
        return f"it is {type(config).__name__}, not a table"
    why = (_table(config, TOP, "") or _table(config.get("world") or {}, {"kind": _TEXT}, "world.")
           or _table(config.get("family") or {}, FAMILY, "family."))
    for i, arm in enumerate(config.get("arms") or () if why is None else ()):
        why = _arm_damage(arm, f"arms[{i}]")
        if why is not None:
            break
    return why


def _arm_damage(arm, where: str) -> str | None:
    if not isinstance(arm, dict):
        return f"{where} is {arm!r}, not a table"
    why = _table(arm, ARM, f"{where}.") or _table(arm.get("family") or {}, FAMILY, f"{where}.family.")
    if why is None and arm.get("members", 1) < 1:
        return f"{where}.members is {arm['members']}, not a whole number >= 1"
    steps = [(f"{where}.{key}[{j}]", step) for key in ("curation", "couplings") for j, step in
             enumerate(arm.get(key) or () if why is None else ())]
    for at, step in steps:
        why = f"{at} is {step!r}, not a table" if not isinstance(step, dict) else _table(step, STEP, f"{at}.")
        if why is not None:
            break
    return why


def meta_damage(key: str, value) -> str | None:
    """What is wrong with the shape of one of a run's stored metadata (``data``: file -> its sha256 and bytes;
    ``options``, ``provenance``: tables), or None. Keys of other versions pass."""
    if key in ("data", "options", "provenance") and not isinstance(value, dict):
        return f"{key} is {value!r}, not a table"
    if key == "provenance" and not isinstance(value.get("libraries", {}), dict):
        return f"provenance.libraries is {value['libraries']!r}, not a table"
    if key == "data":
        for path, digest in value.items():
            if not (isinstance(digest, dict) and isinstance(digest.get("sha256"), str)
                    and _is(digest.get("bytes"), _WHOLE, "")):
                return f"data[{path!r}] is {digest!r}, not a table of sha256 and bytes"
    return None
