"""Is a run whole? Every lineage of the stored config, every generation, nothing after an end.

Written over the store's rows generically: a lineage is one value of each
key column of ``generations`` besides ``run_id`` and ``generation`` (today
arm and replicate; a ``member`` column joins by itself, with each arm's
``members`` from the config). The values a column must take in each arm come
from the stored config through :data:`AXES`; a key column without an axis is
checked on the values present. A lineage is whole when
its generations are exactly 0..last and it ends at the config's last
generation or with a record whose status is not ``ok`` (a diverged arm ends
early by design).
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
    what: str  # 'missing' | 'gap' | 'unfinished' | 'after end' | 'unplanned'
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


def check_rows(config: dict, columns: tuple[str, ...], rows: Iterable[tuple]) -> list[Problem] | None:
    """Problems of a run's ``rows`` = ``(*key values, generation, status)``; None when the config plans no
    generations (an evolve run), [] when the run is whole."""
    last = planned_generations(config)
    if last is None:
        return None
    seen: dict[tuple, dict[int, str]] = {}
    for *key, gen, status in rows:
        seen.setdefault(tuple(key), {})[int(gen)] = status
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
        if extra:
            why = f"its end at generation {ended} ({gens[ended]})" if ended is not None else f"generation {last}"
            first = min(extra) if not missing else min(missing[0], min(extra))
            problems.append(Problem(key, "after end", first, f"generations {_ranges(extra)} come after {why}"))
    quiet = frozenset({"member"})
    return [Problem(p.lineage, p.what, p.first_bad, p.detail, quiet)
            if arm_at is not None and p.lineage[arm_at] in solo else p for p in problems]
