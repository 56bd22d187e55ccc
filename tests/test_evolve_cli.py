"""`redqueen evolve`: configs in, one run with one arm per config, curves in the store and the report."""

from redqueen.cli import main
from redqueen.runtime.store import Store


def test_evolve_two_methods_two_seeds(tmp_path, capsys):
    a = tmp_path / "m2n2.toml"
    a.write_text('method = "m2n2"\nbudget = 300\neval_every = 100\n')
    b = tmp_path / "cma.toml"
    b.write_text('[evolve]\nmethod = "cma"\nbudget = 300\neval_every = 100\narchive_size = 10\n')
    out = tmp_path / "runs"
    assert main(["evolve", str(a), str(b), "--seeds", "0,1", "-o", str(out)]) == 0
    store = Store(out)
    info = store.run("latest")
    assert info.kind == "evolve" and info.status == "done"
    recs = store.records(info.id)
    assert {r.arm for r in recs} == {"m2n2", "cma"} and {r.replicate for r in recs} == {0, 1}
    assert all(0 <= r.metrics["test_acc"] <= 1 for r in recs)
    assert max(r.generation for r in recs) == 300
    html = (out / f"{info.id}.html").read_text()
    assert "forward passes" in html.lower()
    # same seed, same curve
    assert main(["evolve", str(a), "--seeds", "1", "-o", str(out), "--no-report"]) == 0
    again = [r.metrics for r in store.records("latest")]
    first = [r.metrics for r in recs if r.arm == "m2n2" and r.replicate == 1]
    assert again == first


def test_evolve_bad_input(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('method = "annealing"\n')
    assert main(["evolve", str(bad), "-o", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert "method" in err and "\n" not in err
    ok = tmp_path / "ok.toml"
    ok.write_text('method = "m2n2"\nbudget = 100\n')
    assert main(["evolve", str(ok), "--seeds", "1,x", "-o", str(tmp_path / "runs")]) == 2
    assert main(["evolve", str(ok), str(ok), "-o", str(tmp_path / "runs")]) == 2
