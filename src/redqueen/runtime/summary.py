"""Terminal tables of a run, read from the store in SQL (bounded memory however large the run).

:func:`print_summary` (after ``redqueen run`` and by default in ``redqueen show``): one table per
arm, each lineage's first generation against its last, leading with what shows collapse (types
lost, Hill q = 1, KL) before heterozygosity, which barely moves; each value the mean over the
replicates with its 99% interval; N_e with its interval or "not estimable"; a glossary of the
terms shown, once. :func:`print_rows` (``show --arm/--replicate/--every/--metric``): the
per-generation rows, streamed.
"""

from __future__ import annotations

import json
import re

from redqueen.metrics.popgen import effective_size_interval
from redqueen.runtime.display import fmt, glossary, mean_metrics, plain, replicate_stats, replicates_note, safe

#: the order of the tables' rows: what shows collapse first
SHOWN = ("types_lost", "hill1", "kl", "hill0", "hill2", "tail_mass_kept", "heterozygosity", "inbreeding",
         "var_ratio", "fitted_var_ratio", "fitted_log_var", "w1", "mean_sq_error", "fitted_mean_sq_error", "loglik",
         "nll_real", "ppl_real", "ppl_gen0", "ppl_gen0_p99", "distinct_2", "self_bleu", "best_test_acc", "best_train_acc", "test_acc", "train_acc")
N_E = "N_e"
_GRID = re.compile(r" \[(seed=\d+ n=\d+)\]$")


def grid_point(name: str) -> str:
    """The sweep grid point of a run (``seed=3 n=200``) from the name ``redqueen sweep`` gives it, else ''."""
    m = _GRID.search(name)
    return m.group(1) if m else ""


def _ends(store, run_id: str) -> dict[str, dict]:
    """Per arm: each replicate's first and last :class:`~redqueen.runtime.store.Row` (a population's
    members averaged into one row: :func:`member_mean`) and the diverged rows."""
    arms: dict[str, dict] = {}
    rows: dict[tuple[str, int], list] = {}
    for row in store.iter_rows(run_id, ends=True):
        rows.setdefault((row.arm, row.replicate), []).append(row)
        a = arms.setdefault(row.arm, {"first": {}, "last": {}, "diverged": []})
        if row.status != "ok":
            a["diverged"].append(row)
    for (arm, rep), rs in rows.items():
        a = arms[arm]
        lo, hi = min(r.generation for r in rs), max(r.generation for r in rs)
        a["first"][rep] = member_mean([r for r in rs if r.generation == lo])
        a["last"][rep] = member_mean([r for r in rs if r.generation == hi])
    return arms


def member_mean(rows: list):
    """One row of a population's members at one generation (:func:`~redqueen.runtime.display.mean_metrics`,
    the first non-ok member's status); one row is returned as it is."""
    if len(rows) == 1:
        return rows[0]
    bad = next((r for r in rows if r.status != "ok"), rows[0])
    return rows[0]._replace(metrics=mean_metrics([r.metrics for r in rows]), status=bad.status, reason=bad.reason)


def _trajectories(store, run_id: str, metric: str) -> dict[str, list[list[float]]]:
    """Per arm, one list of ``metric`` values by generation per replicate (a population's members averaged)."""
    out: dict[str, dict[int, dict[int, list[float]]]] = {}
    for row in store.iter_rows(run_id, names=[metric]):
        if metric in row.metrics:
            out.setdefault(row.arm, {}).setdefault(row.replicate, {}).setdefault(row.generation, []).append(
                row.metrics[metric])
    return {arm: [[v[0] if len(v) == 1 else sum(v) / len(v) for _, v in sorted(gens.items())]
                  for gens in reps.values()] for arm, reps in out.items()}


def _span(word: str, gens: list[int]) -> str:
    lo, hi = min(gens), max(gens)
    return f"{word} {lo:,}" if lo == hi else f"{word} {lo:,}-{hi:,}"


def _not_drift(config: dict, arm: str) -> str:
    """Why ``arm`` of a stored experiment config is not pure drift (then N_e is not estimated), or ''."""
    spec = next((a for a in config.get("arms", []) if isinstance(a, dict) and a.get("name") == arm), None)
    if spec is None:
        return ""
    if spec.get("couplings"):
        return "a population with couplings"
    regime = spec.get("regime", "replace")
    if regime == "fresh":
        return "fresh data"
    if regime in ("accumulate", "subsample"):
        return regime
    if spec.get("curation"):
        return "curation"
    family = {**(config.get("family") or {}), **(spec.get("family") or {})}
    if family.get("alpha"):
        return "smoothing"
    if (family.get("temperature", 1.0) != 1.0 or family.get("weight_temperature", 1.0) != 1.0 or family.get("top_k")
            or family.get("top_p", 1.0) < 1.0):
        return "sampling bias"
    return ""


def _ne_text(h_by_rep: list[list[float]]) -> str:
    import numpy as np

    width = max(len(h) for h in h_by_rep)
    h = np.full((len(h_by_rep), width), np.nan)
    for i, row in enumerate(h_by_rep):
        h[i, : len(row)] = row
    e = effective_size_interval(h)
    if not e.estimable:
        return f"not estimable ({e.reason})"
    if e.high == float("inf"):
        return f"≥ {fmt(round(e.low))} (no decay detected)" if e.estimate == float("inf") else (
            f"{fmt(round(e.estimate))} (≥ {fmt(round(e.low))})")
    return f"{fmt(round(e.estimate))} ({fmt(round(e.low))}-{fmt(round(e.high))})"


def print_summary(console, store, info, status: dict[str, str] | None = None) -> None:
    """One table per arm of run ``info`` (each lineage's first vs last record, mean ± 99% interval over
    replicates), the readable samples of replicate 0, and a glossary of the terms shown."""
    from rich.table import Table

    word = "passes" if info.evolves else "gen"
    ends = _ends(store, info.id)
    if not ends:
        console.print("no records")
        return
    h = _trajectories(store, info.id, "heterozygosity")
    samples: dict[tuple[str, int], list[str]] = {}
    for s in store.samples(info.id):
        if s.replicate == 0:
            samples.setdefault((s.arm, s.generation), []).append(s.text)
    shown_terms: list[str] = []
    replicates = max(len(a["first"]) for a in ends.values())
    for arm, a in ends.items():
        first, last = list(a["first"].values()), list(a["last"].values())
        present = {k for r in first + last for k in r.metrics}
        rows = [k for k in SHOWN if k in present] + sorted(present - set(SHOWN) - {"entropy", "tv", "js"}
                                                             - {k for k in present if k.startswith(("ppl_gen0_p", "distinct_"))})
        arm_status = (status or {}).get(arm) or ("diverged" if a["diverged"] else "ok")
        table = Table(title=safe(arm) + ("" if arm_status == "ok" else f"  [{arm_status}]"), title_justify="left")
        table.add_column("metric")
        table.add_column(_span(word, [info.progress(r) for r in first]), justify="right")
        table.add_column(_span(word, [info.progress(r) for r in last]), justify="right")
        shown = []
        for k in rows:
            a0 = replicate_stats((r.metrics.get(k) for r in first), metric=k)
            a1 = replicate_stats((r.metrics.get(k) for r in last), metric=k)
            if a0.n or a1.n:  # a metric that is NaN throughout (e.g. tail mass of a world without one) is left out
                table.add_row(safe(k), safe(a0.text()), safe(a1.text()))
                shown.append(k)
        rows = shown
        if arm in h and not info.evolves:
            why = _not_drift(info.config, arm)
            table.add_row(N_E, "-", f"not drift ({why})" if why else _ne_text(h[arm]))
            rows.append(N_E)
        shown_terms.extend(rows)
        console.print(table)
        for g in (min(r.generation for r in first), max(r.generation for r in last)):
            texts = samples.get((arm, g))
            if texts:
                console.print(f"  {word} {g:>3}: {safe(texts[0][:160])}")
        for r in a["diverged"][:1]:
            console.print(f"  stopped at {word} {info.progress(r)}: {safe(r.reason)}")
    population = any(a.get("members", 1) > 1 for a in _arm_specs(info.config))
    if population and not info.evolves:
        shown_terms.extend(print_cures(console, store, info, ends))
    console.print(f"Each table: {safe(replicates_note(replicates))}; first and last record of each lineage"
                  + (" (a population's members averaged)." if population else "."))
    terms = glossary(shown_terms)
    if terms:
        console.print("Glossary:")
        for term, text in terms:
            console.print(f"  [bold]{safe(term)}[/]: {safe(text)}")


def _arm_specs(config: dict) -> list[dict]:
    return [a for a in (config or {}).get("arms", []) if isinstance(a, dict)]


#: the cures table's columns: (heading, metric of a member, metric of the population or None: the members' mean is
#: it). Types lost count, for an exact (categorical) family, from each member's real-data fit at generation 0,
#: before any coupling acts (:func:`redqueen.loop.phases.anchor`): the same start in every arm of a replicate.
#: A table shows the columns some arm measured (a categorical world's types, a text world's perplexity, a point
#: world's W1 and variance ratio).
CURE_COLUMNS = (("types lost", "types_lost", "pool_types_lost"), ("tail mass kept", "tail_mass_kept", None),
                ("KL", "kl", "pool_kl"), ("Hill q=1", "hill1", "pool_hill1"), ("ppl_real", "ppl_real", None),
                ("W1", "w1", None), ("var ratio", "var_ratio", None))


def coupling_words(c: dict) -> str:
    """A coupling's config in a few words: a headline per kind, then every other setting that is not the default
    (so two arms that differ in one setting read differently)."""
    kind = c.get("kind")
    said: set[str] = {"kind"}
    if kind == "migration":
        head, said = f"migration m = {fmt(c.get('rate', 0.01))} ({c.get('topology', 'all')})", said | {"rate", "topology"}
    elif kind == "merge":
        every = c.get("every", 1)
        head = f"merge: {_children(c)} every {'gen' if every == 1 else f'{every} gen'} ({c.get('operator', 'slerp')})"
        said |= {"every", "children", "operator"}
    elif kind == "niches":
        head, said = (f"niches (M2N2): alpha {fmt(c.get('alpha', 1.0))}, {_children(c)} a gen, score "
                      f"{c.get('score', 'likelihood')}"), said | {"alpha", "children", "score"}
    elif kind == "quality_diversity":
        head, said = f"quality-diversity archives of {c.get('cells', 10)} cells, {_children(c)} a gen", said | {"cells", "children"}
    elif kind == "island_reset":
        head = f"island reset every {c.get('every', 5)} gen ({fmt(c.get('fraction', 0.25))} of members)"
        said |= {"every", "fraction"}
    elif kind == "arena":
        det = c.get("detector") or {}
        genes = c.get("genes") or []
        head = (f"arena: {c.get('regime', 'adapting')} {det.get('kind', '?')} detector, genes "
                f"{', '.join(genes) if genes else 'none'}, {c.get('heldout', 0)} held out")
        said |= {"regime", "detector", "genes", "heldout"}
    else:
        head = str(kind)
    rest = [f"{k} {_setting(v)}" for k, v in c.items() if k not in said and v != _default(kind, k)]
    return head + (f" ({'; '.join(rest)})" if rest else "")


def _default(kind, field: str):
    """The config default of a coupling's ``field`` (a sentinel that equals nothing when there is none)."""
    from redqueen.runtime import config as C

    info = getattr(C.kinds(C.Coupling).get(kind), "model_fields", {}).get(field)
    return object() if info is None or info.is_required() else info.get_default(call_default_factory=True)


def _setting(v) -> str:
    return fmt(v) if isinstance(v, float) else ", ".join(map(str, v)) if isinstance(v, list) else str(v)


def _children(c: dict) -> str:
    n = c.get("children", 1)
    return f"{n} child" if n == 1 else f"{n} children"


def arm_words(config: dict, arm: str) -> str:
    """What an arm is, in a few words: regime, smoothing, curation, members and couplings."""
    spec = next((a for a in _arm_specs(config) if a.get("name") == arm), {})
    regime = spec.get("regime", "replace")
    if regime == "fresh":
        regime = f"fresh {fmt(spec.get('real_fraction', 0.1))} ({spec.get('real_source', 'world')})"
    parts = [regime]
    family = {**(config.get("family") or {}), **(spec.get("family") or {})}
    if family.get("alpha"):
        parts.append(f"smoothing alpha = {fmt(family['alpha'])}")
    parts += [f"{c.get('kind')}" for c in spec.get("curation") or []]
    members = spec.get("members", 1)
    if members > 1:
        parts.append(f"P = {members}: " + ("; ".join(coupling_words(c) for c in spec.get("couplings") or [])
                                           or "isolated members"))
    return ", ".join(parts)


#: where a member's migrants come from, by topology (runtime/loop/couplings/migration.py)
MIGRANTS_FROM = {"all": "from the other members", "ring": "from the previous member on the ring",
                 "stepping_stone": "from the two neighbours on the circle"}


def _topologies(config: dict, arm: str) -> list[str]:
    spec = next((a for a in _arm_specs(config) if a.get("name") == arm), {})
    return [c.get("topology", "all") for c in spec.get("couplings") or [] if c.get("kind") == "migration"]


def what_it_did(events: dict[str, tuple[int, float]], replicates: int, topologies: list[str] = ()) -> str:
    """A population's coupling events (:meth:`Store.coupling_events` of one arm) in words, per replicate;
    ``topologies``: those of the arm's migration couplings (where the migrants came from)."""
    said = []
    reps = max(replicates, 1)
    if "migrant" in events:
        n, w = events["migrant"]
        source = MIGRANTS_FROM.get(topologies[0], "from other members") if len(topologies) == 1 else \
            "from other members"
        said.append(f"{w / n:.1%} of training items {source}")
    for kind, words in (("merge", "members replaced by a weight-space child"), ("copy", "islands re-seeded from the best"),
                        ("archive", "members bred from archive elites")):
        if kind in events:
            said.append(f"{fmt(events[kind][0] / reps)} {words}")
    return "; ".join(said) + (" per replicate" if len(said) > ("migrant" in events) else "") if said else "-"


def cure_table(store, info, ends: dict[str, dict] | None = None) -> tuple[str, list[str], list[list[str]], list[str]]:
    """``(title, head, rows, terms)``: every arm at its last generation -- what the cure is and did, and what
    it kept, members and population side by side (the population: the members' pooled distribution; one
    member: itself) -- for the terminal (:func:`print_cures`) and the report."""
    ends = _ends(store, info.id) if ends is None else ends
    events = store.coupling_events(info.id)
    last_gen = max(r.generation for a in ends.values() for r in a["last"].values())
    measured = {k for a in ends.values() for r in a["last"].values() for k in r.metrics}
    title = (f"What each cure did, at gen {last_gen:,}. member: the mean over a population's members; pool: the "
             "members' pooled distribution." + (" Types lost count from generation 0 (categorical: each member's fit "
             "to real data, before any coupling acted, so every arm starts from the same types); a pool starts "
             "with more types than one member (pool_hill0 at gen 0), so compare pools with pools."
             if "types_lost" in measured else ""))
    head = ["arm", "cure", "what it did"]
    columns = [c for c in CURE_COLUMNS if c[1] in measured]
    for name, _, pooled in columns:
        head += [f"{name}: member", f"{name}: pool"] if pooled else [name]
    head.append("F_ST")
    rows, terms = [], []
    for arm, a in ends.items():
        last = list(a["last"].values())
        single = not any("fst" in r.metrics for r in last)  # one member: the population is the member
        cells = []
        for _, own, pooled in columns:
            for name in (own, pooled) if pooled else (own,):
                key = own if single else name
                stats = replicate_stats((r.metrics.get(key) for r in last), metric=key)
                cells.append(stats.text() if stats.n else "-")
                terms.append(name)
        fst = replicate_stats((r.metrics.get("fst") for r in last), metric="fst")
        did = what_it_did(events.get(arm, {}), len(last), _topologies(info.config, arm))
        rows.append([plain(arm), plain(arm_words(info.config, arm)), did, *cells,
                     fst.text() if fst.n else "-"])
    return title, head, rows, terms + ["fst"]


def print_cures(console, store, info, ends: dict[str, dict]) -> list[str]:
    """The :func:`cure_table` in the terminal; returns the terms it used (for the glossary)."""
    from rich.markup import escape
    from rich.table import Table

    title, head, rows, terms = cure_table(store, info, ends)
    table = Table(title=escape(title), title_justify="left")
    for i, col in enumerate(head):
        table.add_column(escape(col), justify="left" if i < 3 else "right")
    for row in rows:
        table.add_row(*map(escape, row))
    console.print(table)
    return terms


def print_run(console, store, info, *, arm: str | None = None, replicate: int | None = None,
              every: int | None = None, metrics: list[str] | None = None, member: int | None = None) -> None:
    """Everything `redqueen show` prints: provenance, config, and the summary; with any filter, the rows (an arm,
    replicate, member or metric the run lacks is a ``KeyError`` before anything is printed)."""
    filtered = not (arm is None and replicate is None and every is None and not metrics and member is None)
    if filtered:
        row_columns(store, info, arm=arm, replicate=replicate, metrics=metrics, member=member)
    console.print(f"[bold]{safe(info.name)}[/]  id {safe(info.id)}  kind {info.kind}  status {info.status}")
    console.print(f"seed {info.seed}  redqueen {safe(info.version)}  created {info.created}"
                  + (f"  commit {safe(info.commit)}" if getattr(info, "commit", None) else ""))
    if getattr(info, "owner", None) or getattr(info, "reason", ""):
        console.print(f"owner {info.owner}" if info.owner else f"reason: {info.reason}", markup=False)
    meta = getattr(info, "meta", {}) or {}
    libs = (meta.get("provenance") or {}).get("libraries") or {}
    if libs:
        console.print("libraries: " + ", ".join(f"{k} {v}" for k, v in sorted(libs.items())), markup=False)
    for path, digest in sorted((meta.get("data") or {}).items()):
        console.print(f"data: {path} sha256 {digest.get('sha256', '?')} ({digest.get('bytes', '?')} bytes)", markup=False)
    console.print("config: " + safe(json.dumps(info.config, sort_keys=True)))
    if not filtered:
        print_summary(console, store, info)
        console.print(f"Per-generation rows: redqueen show {info.id} --every 5 (and --arm, --replicate, --member, "
                      "--metric)")
        return
    print_rows(console, store, info, arm=arm, replicate=replicate, every=every, metrics=metrics, member=member)


def _members(info, arm=None) -> int:
    """The most members any (or this) arm of the run has."""
    return max([int(a.get("members", 1)) for a in _arm_specs(info.config) if arm is None or a.get("name") == arm] or [1])


def row_columns(store, info, *, arm=None, replicate=None, metrics=None, member=None) -> list[str]:
    """The columns :func:`print_rows` shows; ``KeyError`` naming what exists for an arm, replicate, member or metric
    the run does not have (checked before anything is printed)."""
    arms = [a for a, _ in info.arms]
    if arm is not None and arm not in arms:
        raise KeyError(f"run {info.id} has no arm {arm!r}; its arms are {arms}")
    if member is not None and member >= _members(info, arm):
        where = f"arm {arm!r} has no member {member}" if arm is not None else f"no arm has a member {member}"
        raise KeyError(f"run {info.id}: {where}; its members are 0-{_members(info, arm) - 1}")
    present = {k for r in store.iter_rows(info.id, arm=arm, replicate=replicate, ends=True, member=member)
               for k in r.metrics}
    if replicate is not None and not present:
        reps = sorted({r.replicate for r in store.iter_rows(info.id, arm=arm, ends=True)})
        if reps and replicate not in reps:
            raise KeyError(f"run {info.id} has no replicate {replicate}; its replicates are {reps[0]}-{reps[-1]}")
    if metrics:
        cols = list(dict.fromkeys(metrics))
        unknown = [c for c in cols if c not in present]
        if unknown:
            raise KeyError(f"run {info.id} has no metric {unknown[0]!r}; its metrics are {sorted(present)}")
        return cols
    return [k for k in SHOWN if k in present] or sorted(present)


def print_rows(console, store, info, *, arm=None, replicate=None, every=None, metrics=None, member=None) -> None:
    """The per-generation rows of a run, filtered in SQL and streamed as aligned plain-text lines; a run with
    populations shows each row's member."""
    arms = [a for a, _ in info.arms]
    cols = row_columns(store, info, arm=arm, replicate=replicate, metrics=metrics, member=member)
    arm_w = max([len(plain(a)) for a in arms] + [3])
    widths = [max(len(c), 10) for c in cols]
    members = _members(info, arm) > 1
    mem = f"  {'member':>6}" if members else ""
    head = f"{'arm':<{arm_w}}  {'rep':>4}{mem}  {'gen':>7}  " + "  ".join(f"{c:>{w}}" for c, w in zip(cols, widths))
    console.print(head, markup=False, highlight=False)
    n = 0
    for row in store.iter_rows(info.id, arm=arm, replicate=replicate, every=every, names=cols, member=member):
        cells = "  ".join(f"{fmt(row.metrics.get(c)):>{w}}" for c, w in zip(cols, widths))
        tail = "" if row.status == "ok" else f"  {row.status}: {plain(row.reason)}"
        mem = f"  {row.member:>6}" if members else ""
        console.print(f"{plain(row.arm):<{arm_w}}  {row.replicate:>4}{mem}  {row.generation:>7}  {cells}{tail}",
                      markup=False, highlight=False)
        n += 1
    if n == 0:
        console.print("no rows match")


def print_profile(console, title: str, profile) -> None:
    """The collapse-profile card (:func:`redqueen.metrics.profile.collapse_profile`) as a terminal table."""
    from rich.table import Table

    from redqueen.metrics.profile import profile_table

    from rich.markup import escape

    head, rows = profile_table(profile)
    table = Table(*head, title=escape(f"collapse profile: {title}"), title_justify="left")
    for row in rows:
        table.add_row(*map(escape, row))
    console.print(table)


def print_audit(console, audit) -> None:
    """Everything `redqueen audit` prints: inputs, the metric-by-generation table (fold intervals), N_e, the profile."""
    from rich.markup import escape
    from rich.table import Table

    for d in audit.inputs:
        console.print(escape(f"gen {d['generation']} ({d['role']}): {d['path']}  {d['kind']}, {d['items']:,} items"
                      f"{', ' + str(d['tokens']) + ' tokens' if 'tokens' in d else ''}, sha256 {d['sha256'][:12]}"))
    table = Table("metric", *["real (baseline)" if g == 0 else f"gen {g}" for g in range(audit.generations + 1)],
                  title=escape(f"audit: the value on all {audit.m:,} items of each generation, then [the 95% interval of the mean "
                        f"over {audit.options['folds']} folds of {audit.m // audit.options['folds']:,}]; where the value "
                        "lies outside it, (folds: their mean [interval]): size-dependent metrics such as types_lost, hill0, kl, "
                        "recall read lower or higher on the smaller folds"),
                  title_justify="left")
    for name in audit.names():
        table.add_row(name, *(escape(audit.cell(name, g)) for g in range(audit.generations + 1)))
    console.print(table)
    if audit.generations >= 1:
        console.print(f"N_e (drift-equivalent population size) = {fmt(audit.n_e)}, 95% interval "
                      f"{fmt(audit.n_e_interval[0])} to {fmt(audit.n_e_interval[1])}")
    print_profile(console, "audit", audit.profile)
    for note in audit.notes:
        console.print(escape(f"note: {note}"))
