"""`redqueen reproduce`: every packaged reproduction at quick scale agrees with its paper (seeded, so
deterministic), the registry and configs are well formed, and bad input is one line with exit code 2."""

from __future__ import annotations

import json

import pytest

from redqueen.cli import main
from redqueen.reproduce import REGISTRY, Context, ReproductionError, reproduce
from redqueen.reproduce import experiments as X
from redqueen.reproduce.base import Measured, at_most, between, close
from pages import embedded_pngs  # every embedded image a PNG that decodes


def _missing(rep) -> str | None:
    """Why a reproduction cannot run on this machine (a corpus outside the repository, torch), or None."""
    data = X.find_data()
    for need in rep.needs:
        if need == "torch":
            try:
                import torch  # noqa: F401
            except ImportError:
                return "torch is not installed"
        elif data is None or not (data / need).is_file():
            return f"corpus {need} not found (tests run without shared/data)"
    return None


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_quick_reproduction_agrees(name, tmp_path):
    rep = REGISTRY[name]
    why = _missing(rep)
    if why:
        pytest.skip(why)
    outcome, page = reproduce(name, scale="quick", out=tmp_path, report=False)
    bad = [(r.claim.what, r.measured.value, r.claim.check.text()) for r in outcome.rows if r.verdict != "agrees"]
    assert outcome.rows and not bad
    doc = json.loads(page.with_suffix(".json").read_text())
    assert doc["name"] == name and len(doc["rows"]) == len(outcome.rows)


def test_every_config_validates_at_both_scales():
    ctx = Context(data=X.find_data())
    for name in X.config_names():
        for scale in ("quick", "paper"):
            try:
                X.experiment(name, scale, ctx)
            except ReproductionError as e:  # a corpus outside the repository
                assert "--data" in str(e)


def test_checks_widen_by_the_standard_error():
    assert close(1.0, rtol=0.01).passes(Measured(1.009))
    assert not close(1.0, rtol=0.01).passes(Measured(1.05))
    assert close(1.0, rtol=0.01).passes(Measured(1.05, se=0.02))
    assert at_most(0.185).passes(Measured(0.18)) and not at_most(0.185).passes(Measured(0.2, se=0.001))
    assert between(1, 2).passes(Measured(1.5)) and not between(1, 2).passes(Measured(float("nan")))
    with pytest.raises(ValueError):
        between(2, 1)


def test_cli_list_and_errors(tmp_path, capsys):
    assert main(["reproduce", "--list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in REGISTRY)
    assert main(["reproduce", "gerstgrasser-regresion", "--out", str(tmp_path)]) == 2
    assert "did you mean gerstgrasser-regression" in capsys.readouterr().err
    assert main(["reproduce", "gerstgrasser-regression", "--scale", "huge", "--out", str(tmp_path)]) == 2
    assert main(["reproduce", "gerstgrasser-regression", "--seeds", "1,x", "--out", str(tmp_path)]) == 2
    assert main(["reproduce", "gerstgrasser-regression", "--data", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    assert "--data" in capsys.readouterr().err
    assert main(["reproduce", "--out", str(tmp_path)]) == 2
    capsys.readouterr()
    empty = tmp_path / "data"
    empty.mkdir()
    assert main(["reproduce", "shumailov-lm", "--data", str(empty), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "wikitext-2/valid.txt" in err and "--data DIR" in err and len(err.strip().splitlines()) == 1


def test_missing_corpus_names_data(tmp_path):
    with pytest.raises(ReproductionError, match="--data DIR"):
        Context(data=tmp_path).corpus("wikitext-2/valid.txt", name="x")
    with pytest.raises(ReproductionError, match="no data folder"):
        Context(data=None).corpus("wikitext-2/valid.txt", name="x")


def test_verify_tier_writes_one_page(tmp_path, capsys):
    from redqueen import verify

    assert verify.main(["--out", str(tmp_path), "--scale", "0.05", "--only", "wright-fisher"]) == 0
    page = (tmp_path / "verify.html").read_text()
    assert "wright-fisher" in page and embedded_pngs(page)
    assert "pass" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        verify.main(["--scale", "0"])


def test_verified_variance_closed_form():
    """The verifier's truncation of N(0, v): a coin-flip verifier changes nothing, a perfect one gives the
    truncated normal's variance, and a Monte Carlo of the same selection agrees to its error."""
    import numpy as np
    from scipy.stats import truncnorm

    from redqueen.reproduce.feng import verified_variance

    assert verified_variance(1.0, accuracy=0.5, quantile=0.1) == pytest.approx(1.0)
    r = 1.6448536269514722
    assert verified_variance(1.0, accuracy=1.0, quantile=0.1) == pytest.approx(truncnorm(-r, r).var(), rel=1e-9)
    rng = np.random.default_rng(0)
    x = rng.normal(0, np.sqrt(0.7), 400_000)
    keep = rng.random(x.size) < np.where(np.abs(x) <= r, 0.9, 0.1)
    assert x[keep].var() == pytest.approx(verified_variance(0.7, accuracy=0.9, quantile=0.1), abs=0.006)  # ~4 sd
    assert verified_variance(0.7, accuracy=0.9, quantile=0.1) < verified_variance(0.7, accuracy=0.6, quantile=0.1) < 0.7


def test_m2n2_seeds_run_one_replicate_each(monkeypatch):
    """``--seeds`` for the M2N2 reproductions lists the seeds of the published runs: one replicate each."""
    from redqueen.reproduce import abrantes

    seen = []
    monkeypatch.setattr(X, "run", lambda ctx, exp: seen.append((ctx.seeds, exp.replicates)) or [])
    with pytest.raises((ValueError, IndexError)):  # nothing ran, so there is nothing to measure
        abrantes.run_pretrained(Context(seeds=(3, 4)))
    assert seen == [((3, 4), 1)]
