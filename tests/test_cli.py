"""The command line, in process: every command, and one-line errors with exit code 2 for bad input."""

import csv
import json
import os

import pyarrow.parquet as pq
import pytest

from redqueen.cli import main
from redqueen.runtime.store import Store
from pages import embedded_pngs  # every embedded image a PNG that decodes

SMALL = """
name = "small"
seed = 3
generations = 4
n = 300
replicates = 2
[world]
kind = "zipf"
k = 50
[family]
kind = "categorical"
[[arms]]
name = "replace"
[[arms]]
name = "fresh"
regime = "fresh"
real_fraction = 0.2
"""


@pytest.fixture
def cfg(tmp_path):
    p = tmp_path / "small.toml"
    p.write_text(SMALL)
    return p


def _err_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def test_run_list_show_export_report(tmp_path, cfg, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "runs"
    assert main(["run", str(cfg), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "replace" in text and "heterozygosity" in text and "N_e" in text and "report" in text
    # what shows collapse leads; values are means over the replicates with an interval; one glossary
    assert text.index("types_lost") < text.index("hill1") < text.index("kl ") < text.index("heterozygosity")
    assert "mean over 2 replicates" in text and " ± " in text
    assert text.count("Glossary:") == 1 and "tail_mass_kept: " in text and "N_e: " in text
    store = Store(out)
    (info,) = store.runs()
    assert info.status == "done" and info.seed == 3 and info.n_records == 2 * 2 * 5
    assert (out / f"{info.id}.html").is_file()
    assert main(["list", "-o", str(out)]) == 0
    assert info.id[:10] in capsys.readouterr().out
    assert main(["show", "latest", "-o", str(out)]) == 0
    assert "types_lost" in capsys.readouterr().out
    assert main(["export", info.id[:15], "-o", str(out), "-f", "csv", "-p", str(tmp_path / "x.csv")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "x.csv")))
    assert len(rows) == 20 and "heterozygosity" in rows[0]
    assert main(["export", "latest", "-o", str(out), "-f", "parquet", "-p", str(tmp_path / "x.parquet")]) == 0
    assert pq.read_table(tmp_path / "x.parquet").num_rows == 20
    assert main(["report", "latest", "-o", str(out), "-p", str(tmp_path / "r.html")]) == 0
    html = (tmp_path / "r.html").read_text()
    assert embedded_pngs(html) and "fresh" in html
    # without a run id, report / show / check / export read the latest run (as the examples' headers write them)
    assert main(["report", "-o", str(out), "-p", str(tmp_path / "bare.html")]) == 0
    assert (tmp_path / "bare.html").read_text().count(f"id='run-{info.id}'") == 1
    assert main(["show", "-o", str(out)]) == 0 and info.id in capsys.readouterr().out
    assert main(["check", "-o", str(out)]) == 0 and "whole" in capsys.readouterr().out
    assert main(["export", "-o", str(out), "-f", "csv", "-p", str(tmp_path / "bare.csv")]) == 0
    assert (tmp_path / "bare.csv").read_text() == (tmp_path / "x.csv").read_text()
    capsys.readouterr()
    # the old spelling, -o FILE, still works with one line saying what to write instead
    assert main(["report", "latest", "--runs", str(out), "-o", str(tmp_path / "old.html")]) == 0
    assert (tmp_path / "old.html").is_file() and "deprecated" in _err_line(capsys)


def test_show_summarises_and_filters_rows_list_has_n_and_grid(tmp_path, cfg, capsys):
    out = tmp_path / "runs"
    assert main(["run", str(cfg), "-q", "--no-report", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["show", "latest", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "types_lost" in text and "Glossary:" in text and "--every 5" in text
    assert main(["show", "latest", "-o", str(out), "--arm", "fresh", "--every", "2", "--metric", "kl",
                 "--metric", "hill1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [ln.split() for ln in lines[lines.index(next(ln for ln in lines if ln.startswith("arm"))) + 1:]]
    assert [(r[0], r[1], r[2]) for r in rows] == [("fresh", rep, g) for rep in "01" for g in "024"]
    assert all(len(r) == 5 for r in rows)  # arm, replicate, generation, kl, hill1
    assert main(["show", "latest", "-o", str(out), "--replicate", "1", "--arm", "replace"]) == 0
    assert "replace     1        4" in capsys.readouterr().out
    assert main(["show", "latest", "-o", str(out), "--metric", "kll"]) == 2
    assert "no metric 'kll'" in _err_line(capsys)
    assert main(["show", "latest", "-o", str(out), "--arm", "nope"]) == 2
    assert "no arm 'nope'" in _err_line(capsys)
    assert main(["list", "-o", str(out)]) == 0
    table = capsys.readouterr().out
    assert " n " in table and " grid " in table and "300" in table


def test_version(capsys):
    from redqueen import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"redqueen {__version__}"


def test_user_strings_are_printed_literally(tmp_path, capsys):
    """Rich markup and ANSI escapes in run names, arm names and sample text reach the terminal as text."""
    from redqueen.loop.record import GenerationRecord

    body = SMALL.replace('name = "small"', 'name = "small [bold]x[/] \\u001b[31mred"')
    p = tmp_path / "odd.toml"
    p.write_text(body)
    out = tmp_path / "runs"
    assert main(["run", str(p), "--no-report", "-o", str(out)]) == 0
    store = Store(out)  # arm names and samples from the Python API or a corpus are not validated like configs
    rid = store.create_run(name="api [/]", kind="collapse", config={"n": 5}, seed=0, arms=[("a[/]b", {})])
    store.append(rid, [GenerationRecord("a[/]b", 0, g, {"kl": 0.1}, samples=("[red]verse\x1b[2J",)) for g in (0, 1)])
    for argv in (["show", "latest"], ["list"], ["show", "latest", "--every", "1"], ["show", rid[:-2] + rid[-2:]]):
        assert main([*argv, "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "[bold]x[/]" in text and "a[/]b" in text and "api [/]" in text and "[red]verse" in text
    assert "\\x1b[31m" in text and "\\x1b[2J" in text and "\x1b" not in text


def test_same_seed_same_records(tmp_path, cfg):
    for folder in ("a", "b"):
        assert main(["run", str(cfg), "-q", "--no-report", "-o", str(tmp_path / folder)]) == 0
    a, b = (Store(tmp_path / f).records("latest") for f in ("a", "b"))
    assert [r.metrics for r in a] == [r.metrics for r in b]


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["bogus"], "No such command"),
        (["run", "--generations", "3"], "No such option"),
        (["run", "missing.toml"], "no such config file"),
        (["show", "nope"], "no results store here"),
        (["export", "x", "-f", "xls"], "not supported; use csv or parquet"),
        (["theory"], "Missing argument"),
        (["run", "--executor", "serial", "--workers", "2"], "--workers 2 needs --executor pool or ray"),
    ],
)
def test_bad_arguments_one_line_exit_2(tmp_path, monkeypatch, capsys, argv, expected):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert expected in _err_line(capsys)


@pytest.mark.parametrize(
    "body, expected",
    [
        ("seed = -1\n", "seed: Input should be greater than or equal to 0"),
        ("[world]\nkind = 'zipf'\nk = 'many'\n", "world.k"),
        ("generations = 3\nn = 10\n[world]\nkind = 'text'\ncorpus = 'does/not/exist.txt'\n[family]\nkind = 'ngram'\n"
         "[[arms]]\nname = 'a'\n", "does/not/exist.txt"),
        ("generations = 3\nn = 10\n[world]\nkind = 'mixture'\n[family]\nkind = 'plugin'\ncls = 'json:JSONDecoder'\n"
         "[[arms]]\nname = 'a'\n", "lacks fit, sample, score_samples"),
        ("generations = 3\nn = 10\n[world]\nkind = 'mixture'\n[family]\nkind = 'plugin'\ncls = 'nosuchpkg.mod:X'\n"
         "[[arms]]\nname = 'a'\n", "cannot be imported"),
    ],
)
def test_bad_configs_leave_no_run(tmp_path, capsys, body, expected):
    p = tmp_path / "bad.toml"
    p.write_text(body)
    out = tmp_path / "runs"
    allow = ["--allow-plugin", "json", "--allow-plugin", "nosuchpkg"]  # the plug-ins' own errors, once allowed
    assert main(["run", str(p), "-o", str(out), *allow]) == 2
    assert expected in _err_line(capsys)
    assert not (out / "runs.db").exists() or Store(out).runs() == []


def test_resume_of_finished_run_is_refused(tmp_path, cfg, capsys):
    out = tmp_path / "runs"
    assert main(["run", str(cfg), "-q", "--no-report", "-o", str(out)]) == 0
    assert main(["resume", "latest", "-o", str(out)]) == 2
    assert "already done" in _err_line(capsys)


def test_keys_reference(capsys):
    assert main(["keys"]) == 0
    assert "real_fraction" in capsys.readouterr().out


def test_config_stored_replays(tmp_path, cfg):
    out = tmp_path / "runs"
    assert main(["run", str(cfg), "-q", "--no-report", "-o", str(out)]) == 0
    info = Store(out).run("latest")
    replay = tmp_path / "replay.json"
    replay.write_text(json.dumps(info.config))
    from redqueen.runtime import config as C

    assert C.validate(json.loads(replay.read_text())) == C.load(cfg)


def test_a_pool_refuses_arms_that_do_not_fit_side_by_side(tmp_path, cfg, capsys, monkeypatch):
    """Each arm fits alone (checked when the config is read); on a pool the largest run at once, so `--workers`
    that would not fit is refused in one line before any work."""
    from redqueen.runtime import config as C
    from redqueen.runtime import memory

    one = max(sum(x.bytes for x in items) for _, items in memory.needs(C.load(cfg)))
    monkeypatch.setattr(memory, "available", lambda: 1.5 * one)
    assert main(["run", str(cfg), "-q", "--no-report", "-o", str(tmp_path / "runs"), "--workers", "2"]) == 2
    err = _err_line(capsys)
    assert "--workers 2: the populations running at once need about" in err and "use --workers 1" in err
    assert not (tmp_path / "runs").exists()
    # a pool without --workers runs one process per CPU: sized the same way
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert main(["run", str(cfg), "-q", "--no-report", "-o", str(tmp_path / "runs"), "--executor", "pool"]) == 2
    assert "a pool of 2 processes (all CPUs): the populations running at once" in _err_line(capsys)
    assert not (tmp_path / "runs").exists()


def test_theory_command_compares_every_predicted_arm(tmp_path, capsys):
    p = tmp_path / "wf.toml"
    p.write_text(SMALL.replace("replicates = 2", "replicates = 40").replace("n = 300", "n = 50"))
    assert main(["theory", str(p), "-o", str(tmp_path / "runs"), "--every", "2"]) == 0
    out = capsys.readouterr().out
    assert "replace: heterozygosity" in out and "fresh: heterozygosity" in out
    # generation 0 is the observed start of these predictions, not a test; each check states its power
    assert "generations 1-4 (0 is the observed start) inside" in out and "power: catches a deviation of" in out
    assert Store(tmp_path / "runs").run("latest").kind == "theory"
    assert "no closed-form prediction for" not in out
    # a population whose members merge has no closed form: it is named, not compared with one lineage's drift
    p.write_text(p.read_text() + '[[arms]]\nname = "merged"\nmembers = 3\ncouplings = [{ kind = "merge" }]\n')
    assert main(["theory", str(p), "-o", str(tmp_path / "runs"), "--every", "2"]) == 0
    out = capsys.readouterr().out
    assert "merged:" not in out and "no closed-form prediction for: merged" in out
    (tmp_path / "one.toml").write_text(SMALL.replace("replicates = 2", "replicates = 1"))
    assert main(["theory", str(tmp_path / "one.toml"), "-o", str(tmp_path / "runs")]) == 2
    assert "replicates >= 2" in _err_line(capsys)


def test_theory_strict_is_a_gate(tmp_path, capsys, monkeypatch):
    """Without --strict, `theory` reports (exit 0) and ends with a verdict; with it, every check is held together
    at the level (Bonferroni over the checks) and a failure exits 1. A theory 30% off fails; the right one passes."""
    from redqueen.runtime import predictions

    p = tmp_path / "wf.toml"
    p.write_text(SMALL.replace("replicates = 2", "replicates = 40").replace("n = 300", "n = 50"))
    runs = ["theory", str(p), "-o", str(tmp_path / "runs"), "-q"]
    assert main(runs + ["--strict"]) == 0
    out = capsys.readouterr().out
    assert "--strict: each of the 4 checks at 99.7500%" in out and "verdict: all 4 checks inside" in out
    right = predictions._Arms.predict
    monkeypatch.setattr(predictions._Arms, "predict", lambda self, arm, metric, *a: None if (
        pred := right(self, arm, metric, *a)) is None else pred * (1.3 if metric == "heterozygosity" else 1.0))
    assert main(runs) == 0
    out = capsys.readouterr().out
    assert "verdict: 2 of 4 checks outside: replace: heterozygosity, fresh: heterozygosity" in out
    assert "--strict holds them all together and exits 1" in out
    assert main(runs + ["--strict"]) == 1
    assert "verdict: 2 of 4 checks outside" in capsys.readouterr().out


def test_report_draws_theory_curves(tmp_path):
    from redqueen.runtime.predictions import theory_curves

    p = tmp_path / "wf.toml"
    p.write_text(SMALL)
    out = tmp_path / "runs"
    assert main(["run", str(p), "-q", "--no-report", "-o", str(out)]) == 0
    store = Store(out)
    info = store.run("latest")
    curve = theory_curves(store, [info.id])
    import numpy as np

    h = curve(info, "replace", "heterozygosity", np.arange(5))
    assert h.shape == (5,) and np.all(np.diff(h) < 0)
    assert curve(info, "replace", "w1", np.arange(5)) is None


def test_report_shows_samples_of_chosen_generations(tmp_path):
    p = tmp_path / "t.toml"
    p.write_text(SMALL.replace("replicates = 2", "replicates = 1\ntexts_every = 2"))
    out = tmp_path / "runs"
    assert main(["run", str(p), "-q", "-o", str(out)]) == 0
    html = next(out.glob("*.html")).read_text()
    assert "Samples by generation" in html
    for g in (0, 2, 4):
        assert f"<th>gen {g}</th>" in html


def test_keep_checkpoints_leaves_final_models(tmp_path, cfg):
    from redqueen.runtime import checkpoint as ck

    out = tmp_path / "runs"
    assert main(["run", str(cfg), "-q", "--no-report", "--keep-checkpoints", "-o", str(out)]) == 0
    files = sorted((out / "checkpoints").rglob("*.safetensors"))
    assert len(files) == 4 and all(ck.generation_of(f) == 4 for f in files)
    assert main(["run", str(cfg), "-q", "--no-report", "-o", str(tmp_path / "plain")]) == 0
    assert not list((tmp_path / "plain").rglob("*.safetensors"))


def test_workers_alone_means_a_process_pool(tmp_path, cfg, monkeypatch):
    from redqueen.runtime import executors

    kinds = []
    real = executors.make_executor

    def spy(kind, **kw):
        kinds.append(kind)
        return real("serial")

    monkeypatch.setattr(executors, "make_executor", spy)
    out = tmp_path / "o"
    assert main(["run", str(cfg), "-o", str(out), "--quiet", "--no-report", "--workers", "2"]) == 0
    assert main(["run", str(cfg), "-o", str(out), "--quiet", "--no-report"]) == 0
    assert kinds == ["pool", "serial"]


@pytest.mark.parametrize("parallel", [[], ["--workers", "2"]], ids=["serial", "pool"])
def test_sigterm_stops_a_run_like_ctrl_c(tmp_path, parallel):
    """Serial: stopped, marked interrupted, and resumed to the end. Pool: lineages far too long to
    finish are stopped at once (not waited for)."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    gens, k = (3000, 50) if not parallel else (100_000, 20_000)  # pool: hours of work per lineage
    p = tmp_path / "long.toml"
    p.write_text(SMALL.replace("generations = 4", f"generations = {gens}").replace("replicates = 2", "replicates = 1")
                 .replace("k = 50", f"k = {k}"))
    out = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "redqueen", "run", str(p), "-o", str(out), "--quiet", *parallel],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until the work is under way (serial: records stored), then terminate
        time.sleep(0.2)
        if (out / "runs.db").exists() and Store(out).runs() and (parallel or Store(out).run("latest").n_records > 10):
            break
    time.sleep(3 if parallel else 0)  # pool: workers are mid-lineage (records arrive when a lineage ends)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1].decode()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert Store(out).run("latest").status == "interrupted"
    if not parallel:
        assert main(["resume", "latest", "-o", str(out), "--quiet", "--no-report"]) == 0
        info = Store(out).run("latest")
        assert info.status == "done" and info.n_records == 2 * (gens + 1)


def test_the_terminal_prints_the_clipped_interval_note_whole(tmp_path, capsys):
    """The tables' note names the clipped form ``mean [low, high]``; rich must not read it as markup."""
    from redqueen.runtime.display import replicates_note

    cfg = tmp_path / "c.toml"
    cfg.write_text('seed = 1\ngenerations = 2\nn = 40\nreplicates = 2\n[world]\nkind = "zipf"\nk = 20\n'
                   '[family]\nkind = "categorical"\n[[arms]]\nname = "a"\n')
    assert main(["run", str(cfg), "-o", str(tmp_path / "out"), "--no-report"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert " ".join(replicates_note(2).split()) in out and "mean [low, high]" in out


def test_commands_that_write_nothing_leave_an_older_store_as_it_was(tmp_path, capsys):
    """list, show, check, export, report and a refused resume read an older store (schema 2, tests/data) from an
    upgraded copy in memory: runs.db keeps every byte, so the redqueen that wrote it still reads it. The first
    command that writes (a resume that runs) upgrades it."""
    import hashlib
    import shutil
    import sqlite3
    from pathlib import Path

    out = tmp_path / "old"
    out.mkdir()
    shutil.copy(Path(__file__).parent / "data" / "store-v2" / "runs.db", out / "runs.db")

    def digest():
        return hashlib.sha256((out / "runs.db").read_bytes()).hexdigest()

    before = digest()
    done, killed = "20261201-230423-79ab", "20261201-230424-2c82"
    for argv, rc in ((["list"], 0), (["show", done], 0), (["check", done], 0), (["check", killed], 1),
                     (["export", done, "-p", str(tmp_path / "x.csv")], 0),
                     (["report", done, "-p", str(tmp_path / "r.html")], 0)):
        assert main([*argv, "-o", str(out)]) == rc, argv  # check: 1 for a run with generations missing
        assert digest() == before, argv
    assert main(["resume", done, "-o", str(out)]) == 2
    assert "already done" in _err_line(capsys) and digest() == before
    assert main(["resume", killed, "-q", "--no-report", "-o", str(out)]) == 0
    assert sqlite3.connect(out / "runs.db").execute("PRAGMA user_version").fetchone()[0] > 2
    assert Store(out).run(killed).status == "done"


def test_a_run_that_keeps_no_checkpoint_leaves_no_checkpoints_folder(tmp_path, cfg):
    out = tmp_path / "runs"
    assert main(["run", str(cfg), "-q", "--no-report", "-o", str(out)]) == 0
    assert not (out / "checkpoints").exists()
    assert main(["run", str(cfg), "-q", "--no-report", "--keep-checkpoints", "-o", str(out)]) == 0
    assert main(["run", str(cfg), "-q", "--no-report", "-o", str(out)]) == 0
    assert len(list((out / "checkpoints").rglob("*.safetensors"))) >= 1  # the kept one stays
