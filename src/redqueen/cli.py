"""The `redqueen` command line (typer + rich).

Every bad input ends in one line on stderr that names the problem and the
fix, and exit code 2; an interrupted run exits 130 with its records kept.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Optional

import typer

try:  # recent typer vendors its own click
    from typer._click.exceptions import ClickException, UsageError
except ImportError:  # pragma: no cover - typer on the real click
    from click.exceptions import ClickException, UsageError

from redqueen.runtime.checkpoint import CheckpointError
from redqueen.runtime.config import ConfigError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Model collapse as population genetics: run self-consuming loops, measure, compare remedies.",
)

OUT = typer.Option(Path("redqueen-runs"), "--out", "-o", help="results folder (one SQLite store inside)")
QUIET = typer.Option(False, "--quiet", "-q", help="no progress bar or tables")


class UserError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def _console():
    from rich.console import Console

    # piped output (CI logs, files) gets wide tables instead of rich's 80-column default
    return Console(highlight=False, width=None if sys.stdout.isatty() else 240)


def _store(folder: Path, *, must_exist: bool = False):
    from redqueen.runtime.store import Store

    if must_exist and not (folder / "runs.db").is_file():
        raise UserError(f"{folder}: no results store here; run an experiment first or pass --out FOLDER")
    try:
        return Store(folder)
    except Exception as e:  # unreadable or not a database
        raise UserError(f"{folder}: cannot open the results store ({e}); pass another --out folder") from None


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
) -> None:
    """Run an experiment (the built-in demo when no CONFIG is given)."""
    from redqueen.runtime import config as C

    exp = C.load(config if config is not None else C.default_path())
    if exp.sweep is not None:
        raise UserError(f"{config} has a [sweep] table; run it with `redqueen sweep {config}`")
    ex = _executor(executor, workers, None, out)
    try:
        _execute(exp, _store(out), out, quiet=quiet, report=report, executor=ex, keep_checkpoints=keep_checkpoints)
    finally:  # on Ctrl-C/SIGTERM too: pool workers still computing are stopped, not waited for
        ex.close()


def _execute(exp, store, out: Path, *, quiet: bool, report: bool, run_id: str | None = None, executor=None,
             keep_checkpoints: bool = False) -> None:
    from redqueen.runtime.runner import run_experiment

    console = _console()
    total = exp.replicates * len(exp.arms) * (exp.generations + 1)
    if quiet:
        result = run_experiment(exp, store=store, run_id=run_id, executor=executor, keep_checkpoints=keep_checkpoints)
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        console.print(f"[bold]{exp.name}[/]  seed {exp.seed}, {len(exp.arms)} arms x {exp.replicates} replicate(s) "
                      f"x {exp.generations} generations, n = {exp.n}")
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task("generations", total=total)

            def tick(rec):
                bar.update(task, advance=1, description=f"{rec.arm} r{rec.replicate} g{rec.generation}")

            result = run_experiment(exp, store=store, on_record=tick, run_id=run_id, executor=executor,
                                    keep_checkpoints=keep_checkpoints)
        from redqueen.runtime.summary import print_summary

        print_summary(console, result)
    where = [f"store {store.path} (run {result.run_id})"]
    if report:
        path = _write_report(store, [result.run_id], out / f"{result.run_id}.html")
        where.append(f"report {path}")
    console.print("results: " + "; ".join(where))
    bad = {a: s for a, s in result.status.items() if s != "ok"}
    if bad:
        console.print("arms that stopped early: " + ", ".join(f"{a} ({s})" for a, s in bad.items()))


@app.command()
def resume(
    run_id: str = typer.Argument(..., help="run id, a unique prefix of one, or 'latest'"),
    out: Path = OUT,
    quiet: bool = QUIET,
    report: bool = typer.Option(True, help="write an HTML report next to the store"),
) -> None:
    """Continue a run that was killed or interrupted; ends with the records an uninterrupted run gives."""
    from redqueen.runtime import config as C

    store = _store(out, must_exist=True)
    info = _resolve(store, run_id)
    if info.kind != "collapse":
        raise UserError(f"run {info.id} is a {info.kind} run; only collapse runs can be resumed")
    if info.status == "done":
        raise UserError(f"run {info.id} is already done; `redqueen show {info.id}` shows it")
    exp = C.validate(info.config)
    _execute(exp, store, out, quiet=quiet, report=report, run_id=info.id)


def _executor(kind: str | None, workers: int | None, address: str | None, out: Path):
    from redqueen.runtime.executors import make_executor

    if kind is None:
        kind = "serial" if workers is None else "pool"
    if kind == "serial" and workers is not None and workers > 1:
        raise UserError(f"--workers {workers} needs --executor pool or ray; the serial executor runs one process")
    try:
        return make_executor(kind, workers=workers, address=address, temp_dir=out / "ray")
    except ValueError as e:
        raise UserError(f"--executor: {e}") from None


@app.command()
def sweep(
    config: Path = typer.Argument(..., help="experiment TOML with a [sweep] table (seeds, n)"),
    out: Path = OUT,
    executor: str = typer.Option("pool", help="pool (local processes, default), ray, or serial"),
    workers: Optional[int] = typer.Option(None, min=1, help="processes (default: all CPUs)"),
    address: Optional[str] = typer.Option(None, help="Ray cluster address (default: start a local Ray)"),
) -> None:
    """Run a grid of experiments (arms x seeds x sizes); a second call continues an interrupted sweep."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from redqueen.runtime import config as C
    from redqueen.runtime.runner import run_experiments

    exp = C.load(config)
    if exp.sweep is None:
        raise UserError(f"{config} has no [sweep] table; add one (seeds = [...], n = [...]) or use `redqueen run`")
    store = _store(out)
    grid = exp.grid()
    existing = {}
    for info in store.runs():
        if info.kind == "collapse":
            existing.setdefault(json.dumps(info.config, sort_keys=True), info)
    todo, skipped = [], 0
    for e in grid:
        info = existing.get(json.dumps(e.model_dump(mode="json"), sort_keys=True))
        if info is not None and info.status == "done":
            skipped += 1
        else:
            todo.append((e, info.id if info is not None else None))
    console = _console()
    console.print(f"[bold]{exp.name}[/]: {len(grid)} grid points ({skipped} already done), executor {executor}")
    if not todo:
        return
    total = sum(e.replicates * len(e.arms) * (e.generations + 1) for e, _ in todo)
    ex = _executor(executor, workers, address, out)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      TimeRemainingColumn(), console=console, transient=True) as bar:
            task = bar.add_task("generations", total=total)
            results = run_experiments(todo, store=store, executor=ex,
                                      on_record=lambda rec: bar.update(task, advance=1))
    finally:
        ex.close()
    for r in results:
        console.print(f"run {r.run_id}: " + ", ".join(f"{a} {s}" for a, s in r.status.items()))
    console.print(f"results: store {store.path}; `redqueen report {' '.join(r.run_id for r in results[:3])}"
                  f"{' ...' if len(results) > 3 else ''} --out {out} -o report.html` to compare")


def _write_report(store, run_ids: list[str], path: Path) -> Path:
    from redqueen.report import write_report
    from redqueen.runtime.predictions import theory_curves

    return write_report(store, run_ids, path, theory=theory_curves(store, run_ids))


@app.command("list")
def list_runs(out: Path = OUT) -> None:
    """List the runs in a results folder."""
    from rich.table import Table

    store = _store(out, must_exist=True)
    table = Table("id", "name", "kind", "created", "status", "seed", "records")
    table.columns[0].no_wrap = True
    for r in store.runs():
        table.add_row(r.id, r.name, r.kind, str(r.created), r.status, str(r.seed), str(r.n_records))
    _console().print(table)


@app.command()
def show(run_id: str = typer.Argument(..., help="run id, a unique prefix of one, or 'latest'"), out: Path = OUT) -> None:
    """Show one run: config, seed, version and the per-generation table."""
    from redqueen.runtime.summary import print_run

    store = _store(out, must_exist=True)
    print_run(_console(), store, _resolve(store, run_id))


@app.command()
def export(
    run_id: str = typer.Argument(..., help="run id, a unique prefix of one, or 'latest'"),
    fmt: str = typer.Option("csv", "--format", "-f", help="csv or parquet"),
    path: Optional[Path] = typer.Option(None, "--path", "-p", help="output file (default: RUN.csv / RUN.parquet)"),
    out: Path = OUT,
) -> None:
    """Export a run's records as one wide table (a row per arm x replicate x generation)."""
    if fmt not in ("csv", "parquet"):
        raise UserError(f"--format {fmt!r} is not supported; use csv or parquet")
    store = _store(out, must_exist=True)
    info = _resolve(store, run_id)
    target = path or Path(f"{info.id}.{fmt}")
    store.export(info.id, target, fmt)
    _console().print(f"wrote {target}")


@app.command()
def report(
    run_ids: list[str] = typer.Argument(..., help="one or more run ids (or prefixes, or 'latest')"),
    output: Path = typer.Option(Path("report.html"), "--output", "-o", help="HTML file to write"),
    out: Path = typer.Option(Path("redqueen-runs"), "--out", "--runs", help="results folder (one SQLite store inside)"),
) -> None:
    """Write one self-contained HTML report of one or more runs."""
    store = _store(out, must_exist=True)
    ids = [_resolve(store, r).id for r in run_ids]
    _console().print(f"wrote {_write_report(store, ids, output)}")


@app.command()
def theory(
    config: Path = typer.Argument(..., help="experiment TOML; its arms are simulated with `replicates` lineages"),
    level: float = typer.Option(0.99, min=0.5, max=0.9999, help="confidence level of the intervals"),
    every: int = typer.Option(5, min=1, help="print every k-th generation"),
    out: Path = OUT,
) -> None:
    """Simulate an experiment's arms and compare them with closed-form theory, with confidence intervals."""
    from redqueen.runtime import config as C
    from redqueen.runtime.predictions import print_theory

    exp = C.load(config)
    print_theory(_console(), exp, store=_store(out), level=level, every=every)


@app.command()
def evolve(
    configs: list[Path] = typer.Argument(..., help="one or more evolve TOMLs (examples/m2n2_digits.toml, ...)"),
    seeds: Optional[str] = typer.Option(None, help="comma-separated seeds, e.g. 0,1,2 (default: each config's seed)"),
    name: str = typer.Option("evolve", help="name of the run"),
    out: Path = OUT,
    report: bool = typer.Option(True, help="write an HTML report (test accuracy against forward passes)"),
) -> None:
    """Evolve populations of models in weight space (M2N2, GA, MAP-Elites, CMA-ES) on digits; one run, one arm per config."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from redqueen.evolve.runner import EvolveConfig, run_evolve
    from redqueen.runtime import config as C

    loaded = []
    for path in configs:
        data = C.read_toml(path)
        loaded.append(C.validate_as(EvolveConfig, data.get("evolve", data), prefix=str(path)))
    try:
        seed_list = [int(s) for s in seeds.split(",")] if seeds else None
    except ValueError:
        raise UserError(f"--seeds {seeds!r}: give comma-separated non-negative integers, e.g. 0,1,2") from None
    if seed_list is not None and any(s < 0 for s in seed_list):
        raise UserError(f"--seeds {seeds!r}: seeds must be non-negative")
    plan = [cfg.model_copy(update={"seed": s}) for cfg in loaded for s in (seed_list or [cfg.seed])]
    arms = list(dict.fromkeys(cfg.arm for cfg in plan))
    if len(arms) < len(loaded):
        raise UserError("two configs evolve the same method with the same switches; give each arm different settings")
    store = _store(out)
    run_id = store.create_run(name=name, kind="evolve", config={"runs": [c.model_dump() for c in loaded], "seeds": seed_list},
                              seed=plan[0].seed, arms=[(c.arm, c.model_dump()) for c in loaded])
    console = _console()
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task("forward passes", total=sum(c.budget for c in plan))
            for cfg in plan:
                done = 0
                for rec in run_evolve(cfg):
                    store.append(run_id, [rec])
                    bar.update(task, advance=rec.forward_passes - done,
                               description=f"{cfg.arm} seed {cfg.seed}: test acc {rec.test_acc_of_best_on_train:.3f}")
                    done = rec.forward_passes
                    last = rec
                console.print(f"{cfg.arm:<28} seed {cfg.seed:<3} {last.forward_passes:>7} passes  "
                              f"train {last.best_train_acc:.3f}  test {last.test_acc_of_best_on_train:.3f}  "
                              f"{last.forward_passes / max(last.seconds, 1e-9):,.0f} passes/s")
    except KeyboardInterrupt:
        store.finish(run_id, "interrupted")
        raise
    store.finish(run_id, "done")
    where = f"results: store {store.path} (run {run_id})"
    if report:
        where += f"; report {_write_report(store, [run_id], out / f'{run_id}.html')}"
    console.print(where)


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
    except (ConfigError, CheckpointError, UserError) as e:
        print(f"redqueen: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("redqueen: interrupted; the records written so far are kept (status 'interrupted')", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(entry())
