"""`redqueen reproduce`: list the packaged reproductions, run one, print published | ours | verdict.

Each run writes its experiments to the results store, then next to it
``reproduce/<name>-<scale>.json`` (the rows) and ``reproduce/<name>-<scale>.html`` (the table,
the reproduction's own figures and the runs' full report below them).
"""

from __future__ import annotations

import base64
import difflib
import html
import json
import time
from pathlib import Path

from redqueen.reproduce.base import SCALES, Context, Outcome, ReproductionError
from redqueen.reproduce.experiments import find_data
from redqueen.reproduce.registry import REGISTRY


def parse_seeds(text: str | None) -> tuple[int, ...] | None:
    """``"0,1,2"`` -> ``(0, 1, 2)``; None when the option is not given; ``ReproductionError`` (one line) for
    anything else: an empty list, a non-integer, a seed outside 0 .. 2**63 - 1, or a seed given twice (the same
    run twice). ``redqueen evolve --seeds`` parses with it too."""
    if text is None:
        return None
    try:
        seeds = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise ReproductionError(f"--seeds {text!r}: give comma-separated non-negative integers, e.g. 0,1,2") from None
    if any(not 0 <= s <= 2**63 - 1 for s in seeds):
        raise ReproductionError(f"--seeds {text!r}: seeds must be integers from 0 to 2**63 - 1")
    if len(set(seeds)) != len(seeds):
        raise ReproductionError(f"--seeds {text!r}: a seed is given twice (the same run twice); list each once")
    return seeds


def get(name: str):
    """The registered reproduction ``name``; ``ReproductionError`` naming the closest ones otherwise."""
    if name not in REGISTRY:
        near = difflib.get_close_matches(name, list(REGISTRY), n=3, cutoff=0.4)
        hint = f"did you mean {', '.join(near)}?" if near else "`redqueen reproduce --list` shows them"
        raise ReproductionError(f"no reproduction named {name!r}; {hint}")
    return REGISTRY[name]


def print_list(console) -> None:
    from rich.table import Table

    table = Table("name", "paper", "what it checks", "quick / paper (min)", "needs")
    for r in REGISTRY.values():
        mins = " / ".join(f"{r.minutes[s]:g}" if s in r.minutes else "-" for s in SCALES)
        table.add_row(r.name, r.paper, r.summary, mins, ", ".join(r.needs) or "-")
    console.print(table)


def reproduce(name: str, *, scale: str = "quick", seeds: tuple[int, ...] | None = None, data: Path | None = None,
              out: Path = Path("redqueen-runs"), console=None, report: bool = True) -> tuple[Outcome, Path | None]:
    """Run reproduction ``name`` at ``scale`` into the store in ``out``; returns its outcome and the HTML path.

    Raises :class:`ReproductionError` (one line) for an unknown name or scale, bad seeds, or a
    missing corpus, before anything is written.
    """
    from redqueen.runtime.store import Store

    rep = get(name)
    if scale not in SCALES:
        raise ReproductionError(f"--scale {scale!r}: choose one of {', '.join(SCALES)}")
    data_dir = find_data(data)
    log = (lambda text: console.print(f"[dim]{text}[/]")) if console is not None else (lambda text: None)
    out = Path(out)
    ctx = Context(scale=scale, seeds=seeds, data=data_dir, store=Store(out), cache=out / "cache", log=log)
    t0 = time.perf_counter()
    outcome = rep.run(ctx)
    seconds = time.perf_counter() - t0
    if console is not None:
        print_outcome(console, rep, outcome, scale, seconds)
    path = write(out, rep, outcome, scale, seeds, seconds, report=report)
    if console is not None:
        console.print(f"results: store {ctx.store.path}; rows {path.with_suffix('.json')}; report {path}")
    return outcome, path


def print_outcome(console, rep, outcome: Outcome, scale: str, seconds: float) -> None:
    from rich.table import Table

    table = Table("claim", "published", "ours", "verdict", "source", title=f"{rep.name} ({scale} scale, {seconds:.0f} s)",
                  title_justify="left")
    for row in outcome.rows:
        d = row.as_dict()
        ours = row.measured.text() + (f" ({d['note']})" if d["note"] else "")
        verdict = "agrees" if row.verdict == "agrees" else "[bold red]differs[/]"
        table.add_row(d["what"], d["published"], ours, verdict, d["source"])
    console.print(table)
    for note in outcome.notes:
        console.print(f"note: {note}")
    n_ok = sum(r.verdict == "agrees" for r in outcome.rows)
    console.print(f"{n_ok} of {len(outcome.rows)} claims agree")


def write(out: Path, rep, outcome: Outcome, scale: str, seeds, seconds: float, *, report: bool = True) -> Path:
    """The JSON rows and the HTML page of one reproduction run; returns the HTML path."""
    from redqueen.report import CSS
    from redqueen.runtime.files import atomic_path

    folder = Path(out) / "reproduce"
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"{rep.name}-{scale}"
    doc = {"name": rep.name, "paper": rep.paper, "scale": scale, "seeds": list(seeds) if seeds else None,
           "seconds": round(seconds, 1), "run_ids": list(outcome.run_ids), "notes": list(outcome.notes),
           "rows": [r.as_dict() for r in outcome.rows]}
    with atomic_path(stem.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    runs_link = ""
    if report and outcome.run_ids:
        from redqueen.report import write_report
        from redqueen.runtime.predictions import theory_curves
        from redqueen.runtime.store import Store

        store = Store(out)
        runs = Path(f"{stem}-runs.html")
        write_report(store, list(outcome.run_ids), runs, theory=theory_curves(store, list(outcome.run_ids)),
                     title=f"{rep.name}: the runs")
        runs_link = f"<p>Every run's diagnostics, theory dashed: <a href='{html.escape(runs.name)}'>{html.escape(runs.name)}</a></p>"
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in (
            d["what"], d["published"], f"{r.measured.text()}" + (f" ({d['note']})" if d["note"] else ""),
            d["verdict"], d["source"])) + "</tr>"
        for r in outcome.rows for d in [r.as_dict()])
    figs = "".join(f"<h3>{html.escape(t)}</h3><img src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
                   for t, png in outcome.figures)
    notes = "".join(f"<p class='note'>{html.escape(n)}</p>" for n in outcome.notes)
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(rep.name)}</title><style>{CSS}</style></head><body>"
        f"<h1>{html.escape(rep.name)}</h1><p>{html.escape(rep.paper)}: {html.escape(rep.summary)}</p>"
        f"<p class='note'>scale {scale}, seeds {html.escape(str(doc['seeds'] or 'of the config'))}, {seconds:.0f} s</p>"
        "<table><tr><th>claim</th><th>published</th><th>ours</th><th>verdict</th><th>source</th></tr>"
        f"{rows}</table>{notes}{figs}{runs_link}</body></html>\n"
    )
    path = stem.with_suffix(".html")
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path
