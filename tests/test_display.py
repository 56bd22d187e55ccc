"""One policy for numbers and user strings (redqueen.runtime.display), end to end: a top-k text model whose
held-out NLL is infinite stores, prints and plots inf, never a clipped 1e304."""

import math

import numpy as np
import pytest

from redqueen.runtime.display import fmt, plain, replicate_stats, safe


@pytest.mark.parametrize("value, text", [
    (None, "-"), (math.nan, "-"), (math.inf, "inf"), (-math.inf, "-inf"), (0.0, "0"), (3500.0, "3,500"),
    (1e4, "10,000"), (12345.6, "12,346"), (0.99154, "0.9915"), (2.5e7, "2.5e+07"), (1.01e304, "1.01e+304"),
    (0.0005841, "5.84e-04"), (-3.0, "-3"),
])
def test_numbers(value, text):
    assert fmt(value) == text


def test_replicate_stats_keep_infinities_and_give_intervals():
    assert replicate_stats([1.0, math.inf, 2.0]).text() == "inf (1 of 3)"
    assert replicate_stats([math.inf, math.inf]).text() == "inf"
    assert replicate_stats([0.5]).text() == "0.5" and replicate_stats([]).text() == "-"
    s = replicate_stats([1.0, 2.0, 3.0, math.nan])
    assert s.n == 3 and s.mean == 2.0 and s.text() == "2 ± 5.7"  # t_{0.995, 2} * 1 / sqrt(3)
    assert replicate_stats([2.0, 2.0]).text() == "2"


def test_strings_are_made_harmless():
    assert plain("a\x1b[31mb\r") == "a\\x1b[31mb\\r" and plain("tab\tok\nline") == "tab\tok\nline"
    assert safe("x[/]y [bold]") == "x\\[/]y \\[bold]"


def test_top_k_text_model_stores_and_prints_infinite_perplexity(tmp_path, capsys):
    from redqueen.cli import main
    from redqueen.runtime.store import Store

    cfg = tmp_path / "topk.toml"
    cfg.write_text("""
name = "top-k text"
seed = 1
generations = 2
n = 300
reference_size = 200
[world]
kind = "text"
corpus = "kjv"
[family]
kind = "ngram"
order = 2
alpha = 0.01
top_k = 3
max_len = 20
[[arms]]
name = "top3"
""")
    out = tmp_path / "runs"
    assert main(["run", str(cfg), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    rec = Store(out).records("latest")[-1]
    assert rec.metrics["nll_real"] == math.inf and rec.metrics["ppl_real"] == math.inf  # not exp(700) = 1e304
    assert "e+304" not in text and "│ ppl_real " in text and " inf " in text.split("ppl_real", 1)[1].split("\n")[0] + " "
    html = next(out.glob("*.html")).read_text()
    assert "ppl_real is infinite at generation 0-2 (not drawn)" in html and "e+304" not in html
    first = Store(out).records("latest")[0]
    assert np.all(np.isfinite(first.distribution("ppl_gen0")))  # a model's own samples are possible under it
    infinite = sum(int(np.isinf(r.distribution("ppl_gen0")).sum()) for r in Store(out).records("latest"))
    if infinite:  # later models' top-3 can leave generation 0's: counted, not drawn
        assert f"{infinite:,} infinite values" in html


def test_a_mixture_run_prints_no_numpy_warnings(tmp_path, capsys):
    """`RuntimeWarning: Mean of empty slice` leaked from the summary on every mixture-world run."""
    import warnings

    from redqueen.cli import main

    cfg = tmp_path / "mix.toml"
    cfg.write_text('seed = 1\ngenerations = 2\nn = 200\nreference_size = 200\n[world]\nkind = "mixture"\ncomponents = 3\n'
                   '[family]\nkind = "gmm"\ncomponents = 3\n[[arms]]\nname = "replace"\n')
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert main(["run", str(cfg), "-o", str(tmp_path / "runs")]) == 0
        assert main(["show", "latest", "-o", str(tmp_path / "runs")]) == 0


def test_an_interval_half_width_has_two_significant_digits_and_no_exponent_below_a_thousand():
    """A quality-diversity run printed '544 ± 1.3e+02' ('.2g' writes 100-999 with an exponent)."""
    from redqueen.runtime.display import fmt_half

    cases = {0.0051: "0.0051", 1.3: "1.3", 13.4: "13", 99.6: "100", 134.2: "130", 999.4: "1,000", 1234.5: "1,234",
             0.25: "0.25", -3.3: "-3.3", 0.0: "0", 5e-7: "5e-07", 6.0: "6", 0.9: "0.9", -250.0: "-250"}
    assert {v: fmt_half(v) for v in cases} == cases
