"""The HTML report: self-contained, complete, theory drawn dashed; the replicate summary against a naive one."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from redqueen import report
from redqueen.loop.record import GenerationRecord
from redqueen.report import summarize, write_report
from redqueen.runtime.store import Store
from pages import embedded_pngs  # every embedded image a PNG that decodes

N_GEN = 6


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "runs") as s:
        yield s


def collapse_run(store, name="collapse demo"):
    arms = [("replace", {"regime": "replace"}), ("accumulate", {"regime": "accumulate"})]
    rid = store.create_run(name=name, kind="collapse", config={"n": 100, "world": {"k": 20}}, seed=11, arms=arms)
    recs = []
    for arm, rate in (("replace", 0.2), ("accumulate", 0.02)):
        for rep in range(2):
            for g in range(N_GEN):
                h = 0.9 * (1 - rate) ** g + 0.01 * rep
                samples = (f"<b>{arm}</b> & sample g{g}",) if g in (0, N_GEN - 1) else ()
                recs.append(GenerationRecord(arm, rep, g, {"heterozygosity": h, "kl": float("inf") if g == 3 else g},
                                             samples, 0.1, 100))
    recs.append(GenerationRecord("replace", 0, N_GEN, {"heterozygosity": math.nan}, (), 0.1, 100, "diverged", "nan loss"))
    store.append(rid, recs)
    store.finish(rid)
    return rid


@pytest.fixture
def figures(monkeypatch):
    """Capture every figure the report draws (and still encode it)."""
    seen = []
    png = report._png

    def capture(fig):
        seen.append(fig)
        return png(fig)

    monkeypatch.setattr(report, "_png", capture)
    return seen


def test_report_is_one_self_contained_html_file(store, tmp_path):
    rid = collapse_run(store)
    path = write_report(store, [rid], tmp_path / "out" / "report.html")
    assert path == tmp_path / "out" / "report.html"
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.html"]  # no temp file left behind
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert rid in text and "collapse demo" in text
    assert "replace" in text and "accumulate" in text
    assert len(re.findall(r"<img [^>]*src='data:image/png;base64,[A-Za-z0-9+/=]{100,}'", text)) == 2  # one per metric
    assert len(embedded_pngs(text)) == 2
    assert not re.search(r"https?://", text)
    assert not re.search(r"""(src|href)\s*=\s*['"](?!data:|#)""", text)
    assert "<details><summary>config</summary>" in text and "&quot;world&quot;" in text
    assert "&lt;b&gt;replace&lt;/b&gt; &amp; sample g0" in text and "<b>replace</b>" not in text  # escaped
    assert f"sample g{N_GEN - 1}" in text
    assert "diverged" in text and "nan loss" in text
    assert "heterozygosity" in text and "kl" in text


def test_first_last_table_averages_replicates(store, tmp_path):
    rid = collapse_run(store)
    text = write_report(store.folder, rid, tmp_path / "r.html").read_text()  # a folder will do
    table = text[text.index("First against last"):]
    first = 0.9 + 0.005  # mean over replicates 0 and 1 of heterozygosity at generation 0
    # two replicates: the 99% interval reaches past 1, so it is written clipped to what heterozygosity can take
    assert f"<td>{first:.4g} [0.5867, 1]</td>" in table and "mean over 2 replicates" in table
    kl = text[text.index("<th class='metric'>kl</th>"):].split("</tr>")[0]
    assert " ± " in kl or "[" not in kl  # an interval inside the metric's range keeps the ± form


def test_theory_is_drawn_dashed_from_a_mapping_or_a_callable(store, tmp_path, figures):
    rid = collapse_run(store)
    prediction = 0.9 * 0.8 ** np.arange(N_GEN)
    write_report(store, [rid[:12]], tmp_path / "r.html", theory={
        (rid, "replace", "heterozygosity"): prediction,
        (rid, None, "kl"): (np.array([0.0, 5.0]), np.array([0.0, 5.0])),
    })
    het, kl = sorted(figures, key=lambda f: f.axes[0].get_title() != "heterozygosity")
    dashed = [line for line in het.axes[0].get_lines() if line.get_linestyle() == "--"]
    assert [line.get_label() for line in dashed] == ["replace (theory)"]
    np.testing.assert_allclose(dashed[0].get_ydata(), prediction)
    assert [line.get_label() for line in kl.axes[0].get_lines() if line.get_linestyle() == "--"] == ["theory"]

    calls = []

    def theory(info, arm, metric, generations):
        calls.append((info.id, arm, metric, tuple(generations)))
        return prediction if metric == "heterozygosity" else None

    figures.clear()
    write_report(store, ["latest"], tmp_path / "r.html", theory=theory)
    assert (rid, "accumulate", "heterozygosity", tuple(range(N_GEN + 1))) in calls
    het = next(f for f in figures if f.axes[0].get_title() == "heterozygosity")
    dashed = [line.get_label() for line in het.axes[0].get_lines() if line.get_linestyle() == "--"]
    assert dashed == ["replace (theory)", "accumulate (theory)"]
    with pytest.raises(ValueError, match="shape"):
        write_report(store, [rid], tmp_path / "r.html", theory={(rid, "replace", "kl"): ([0, 1, 2], [1, 2])})


def test_evolve_runs_plot_test_accuracy_against_forward_passes(store, tmp_path, figures):
    rid = store.create_run(name="race", kind="evolve", config={}, seed=0, arms=[("m2n2", {}), ("ga", {})])
    store.append(rid, [
        {"method": m, "seed": s, "forward_passes": fp + 7 * s, "best_train_acc": fp / 1e4, "test_acc": fp / 2e4,
         "seconds": 0.5}
        for m in ("m2n2", "ga") for s in range(2) for fp in (1000, 2000, 4000)
    ])
    text = write_report(store, [rid], tmp_path / "e.html").read_text()
    assert "m2n2" in text and "forward passes" in text
    ax = figures[0].axes[0]
    assert ax.get_title() == "test_acc" and ax.get_xlabel() == "forward passes"
    assert sorted(line.get_label() for line in ax.get_lines()) == ["ga", "m2n2"]


def test_several_runs_in_one_report_and_bad_ids(store, tmp_path):
    a, b = collapse_run(store, "first"), collapse_run(store, "second")
    text = write_report(store, [a, b], tmp_path / "two.html").read_text()
    assert a in text and b in text and text.index("first") < text.index("second")
    with pytest.raises(KeyError, match="no run"):
        write_report(store, ["nope"], tmp_path / "x.html")
    with pytest.raises(ValueError, match="at least one"):
        write_report(store, [], tmp_path / "x.html")
    assert not (tmp_path / "x.html").exists()


def naive_summary(series):
    xs = sorted({float(x) for xr, _ in series for x in xr})
    mean, se = [], []
    for x in xs:
        vals = [float(y[list(xr).index(x)]) for xr, y in series if x in list(xr)]
        if any(math.isinf(v) for v in vals):  # an infinite value makes the mean infinite
            mean.append(math.inf)
            se.append(math.nan)
            continue
        vals = [v for v in vals if math.isfinite(v)]
        mean.append(sum(vals) / len(vals) if vals else math.nan)
        if len(vals) > 1:
            m = sum(vals) / len(vals)
            se.append(math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1) / len(vals)))
        else:
            se.append(math.nan)
    return np.array(xs), np.array(mean), np.array(se)


def test_summarize_matches_a_naive_mean_and_standard_error():
    rng = np.random.default_rng(3)
    series = [(np.arange(8), rng.normal(size=8)) for _ in range(4)]
    series[1][1][2] = math.inf
    series[2][1][2] = math.nan
    x, mean, se, n = summarize(series)
    nx, nmean, nse = naive_summary(series)
    np.testing.assert_array_equal(x, nx)
    np.testing.assert_allclose(mean, nmean)
    np.testing.assert_allclose(se, nse)
    assert n[2] == 3 and n[0] == 4 and mean[2] == math.inf


def test_summarize_interpolates_replicates_logged_at_different_x():
    x, mean, se, n = summarize([(np.array([0, 10]), np.array([0.0, 1.0])), (np.array([5, 15]), np.array([1.0, 2.0]))])
    np.testing.assert_array_equal(x, [0, 5, 10, 15])
    np.testing.assert_allclose(mean, [0.0, 0.75, 1.25, 2.0])
    np.testing.assert_array_equal(n, [1, 2, 2, 1])
    assert math.isnan(se[0]) and se[1] > 0
    assert all(len(a) == 0 for a in summarize([]))


def test_a_run_without_records_still_reports(store, tmp_path):
    rid = store.create_run(name="nothing yet", kind="theory", config={}, seed=0, arms=[("a", {})])
    text = write_report(store, [rid], tmp_path / "r.html").read_text()
    assert rid in text and "No records yet" in text


def test_per_item_distributions_are_drawn_as_histograms_by_generation(store, tmp_path, figures):
    from redqueen.loop.record import pack_distribution

    rng = np.random.default_rng(3)
    arms = [("replace", {}), ("bank", {})]
    rid = store.create_run(name="lm", kind="collapse", config={}, seed=1, arms=arms)
    recs, pooled = [], {}
    for arm, spread in (("replace", 1.0), ("bank", 0.2)):
        for rep in range(2):
            for g in range(10):
                v = np.exp(rng.normal(3 - 0.1 * g, 0.3 + spread * g / 10, size=200 + rep))
                pooled.setdefault((arm, g), []).append(v.astype(np.float32))
                recs.append(GenerationRecord(arm, rep, g, {"ppl_gen0": float(v.mean())},
                                             distributions=(("ppl_gen0", pack_distribution(v)),)))
    store.append(rid, recs)
    text = write_report(store, rid, tmp_path / "r.html").read_text()
    assert "Distribution of ppl_gen0 by gen" in text and "Shumailov" in text
    hists = [f for f in figures if f.axes[0].get_title().startswith("ppl_gen0: ")]
    assert [f.axes[0].get_title() for f in hists] == ["ppl_gen0: replace", "ppl_gen0: bank"]
    ax = hists[0].axes[0]
    assert ax.get_xscale() == "log"  # perplexities spanning more than 10x
    labels = ax.get_legend_handles_labels()[1]
    assert len(labels) == report.MAX_HISTOGRAM_GENERATIONS
    assert labels[0] == "gen 0 (n=401)" and labels[-1] == "gen 9 (n=401)"  # first and last kept, replicates pooled
    # each drawn generation is the pooled fraction of items per shared bin
    def stairs(fig):
        return [c.get_data() for c in fig.axes[0].get_children() if type(c).__name__ == "StepPatch"]

    frac, bins = stairs(hists[0])[-1][:2]
    want = np.histogram(np.clip(np.concatenate(pooled[("replace", 9)]), bins[0], bins[-1]), bins=bins)[0] / 401
    everything = np.concatenate([v for vs in pooled.values() for v in vs])
    np.testing.assert_allclose([bins[0], bins[-1]], np.percentile(everything, report.CLIP_PERCENTILES), rtol=1e-6)
    np.testing.assert_allclose(frac, want)
    assert all(np.array_equal(bins, edges) for f in hists for _, edges, _ in stairs(f))  # one set of bins for all arms


def test_runs_without_distributions_draw_no_histograms(store, tmp_path):
    rid = collapse_run(store)
    assert "Distribution of" not in write_report(store, rid, tmp_path / "r.html").read_text()


def test_report_bands_are_the_theory_checks_intervals_and_infinite_means_are_not_drawn(store, tmp_path, figures):
    """The band is theory.compare's simultaneous 99% interval, not +-1 SE; an infinite mean is left out and named."""
    from redqueen.theory import compare

    rid = collapse_run(store)
    text = write_report(store, rid, tmp_path / "r.html").read_text()
    het = next(f for f in figures if f.axes[0].get_title() == "heterozygosity").axes[0]
    (band,) = het.collections[:1]
    lows = band.get_paths()[0].vertices[:, 1]
    h = np.array([[0.9 * 0.8**g + 0.01 * rep for g in range(N_GEN)] for rep in range(2)])
    rows = compare(h, h.mean(axis=0), 0.99)
    assert min(r.ci_low for r in rows) < 0 < 1 < max(r.ci_high for r in rows)  # far wider than +-1 SE with 2 replicates
    assert min(lows) == 0 and max(lows) == 1  # ... and clipped to heterozygosity's [0, 1]
    inside = [r.ci_low for r in rows if 0 < r.ci_low]
    assert all(any(np.isclose(v, lows)) for v in inside)  # where the interval is inside, it is drawn as it is
    kl = next(f for f in figures if f.axes[0].get_title() == "kl").axes[0]
    assert all(np.isnan(line.get_ydata()[3]) for line in kl.get_lines())  # kl = inf at generation 3: a gap
    assert "kl is infinite at generation 3 (not drawn)" in text
    assert "simultaneous 99% interval" in text and "dashed: theory" not in text  # no theory drawn here
    assert "<dt>kl</dt>" in text and "<dt>heterozygosity</dt>" in text  # the glossary
    ticks = het.xaxis.get_major_locator()()
    assert np.all(ticks == np.round(ticks))  # whole generations


def test_arms_in_words_and_evolve_seeds(store, tmp_path):
    config = {"n": 100, "family": {"kind": "categorical", "alpha": 0.0},
              "arms": [{"name": "fresh", "regime": "fresh", "real_fraction": 0.1, "real_source": "bank",
                        "curation": [{"kind": "noise", "rate": 0.01, "scale": 0.1}], "family": {"alpha": 0.5}}]}
    rid = store.create_run(name="words", kind="collapse", config=config, seed=1,
                           arms=[("fresh", {"regime": "Fresh(fraction=0.1, source='bank')"})])
    store.append(rid, [GenerationRecord("fresh", 0, g, {"types_lost": 10000.0 * g}) for g in range(3)])
    text = write_report(store, rid, tmp_path / "w.html").read_text()
    assert "Fresh(" not in text and "fresh: 10% real data each generation, from the gene bank" in text
    assert "family categorical with alpha = 0.5" in text and "curation noise (rate = 0.01, scale = 0.1)" in text
    assert "1e+04" not in text and "20,000" in text
    ev = store.create_run(name="race", kind="evolve", config={}, seed=0, arms=[("m2n2", {"budget": 1000})])
    store.append(ev, [{"method": "m2n2", "seed": s, "forward_passes": 1000, "best_train_acc": 0.5, "test_acc": 0.4,
                       "seconds": 1.0} for s in (0, 1)])
    text = write_report(store, ev, tmp_path / "e.html").read_text()
    assert "<th>seeds</th><td>0, 1</td>" in text and "budget = 1,000" in text


def test_text_the_font_cannot_draw_does_not_warn(store, tmp_path):
    import warnings

    rid = store.create_run(name="glyphs", kind="collapse", config={}, seed=0, arms=[("模型 arm", {})])
    store.append(rid, [GenerationRecord("模型 arm", 0, g, {"kl": 0.1 * g}) for g in range(3)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # matplotlib: "Glyph ... missing from font"
        text = write_report(store, rid, tmp_path / "g.html").read_text()
    assert "模型 arm" in text  # the HTML keeps the name; only the plot's label is simplified


def test_bands_cut_at_the_axes_and_labels_not_drawn(store, tmp_path, figures):
    """A nearly flat line with a band hundreds of times its range: the axis follows the line (with a note), not
    the band; a member label (arena_heldout) is not drawn as a metric."""
    rid = store.create_run(name="wide", kind="collapse", config={}, seed=1, arms=[("replace", {})])
    recs = [GenerationRecord("replace", rep, g, {"w1": 1.0 + 0.001 * g + 0.05 * rep, "arena_heldout": 0.25},
                             (), 0.1, 10) for rep in range(2) for g in range(40)]
    store.append(rid, recs)
    store.finish(rid)
    text = write_report(store, rid, tmp_path / "r.html").read_text()
    titles = [f.axes[0].get_title() for f in figures]
    assert "w1" in titles and "arena_heldout" not in titles
    ax = figures[titles.index("w1")].axes[0]
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    lo, hi = ax.get_ylim()
    assert band.min() >= 0 and band.min() < lo  # clipped to w1 >= 0, and reaching beyond the axis
    assert hi - lo < 0.5 * (band.max() - band.min())
    assert "cut at the axes, in w1:" in text


def test_a_metric_near_one_has_plain_tick_labels(store, tmp_path, figures):
    """A heterozygosity of 0.99978 +- 1e-5 is labelled with its values, not as an offset over tiny ticks (which read
    as another number: a distinct_3 of 0.9999 looked negative)."""
    rid = store.create_run(name="near one", kind="collapse", config={}, seed=0, arms=[("a", {})])
    store.append(rid, [GenerationRecord("a", r, g, {"heterozygosity": 0.99978 + 1e-6 * (g + r)})
                       for r in range(2) for g in range(4)])
    write_report(store, [rid], tmp_path / "r.html")
    (fig,) = [f for f in figures if f.axes and f.axes[0].get_title() == "heterozygosity"]
    ax = fig.axes[0]
    assert ax.yaxis.get_major_formatter().get_offset() == ""
    assert all(t.get_text() == "" or float(t.get_text().replace("\u2212", "-")) > 0.999 for t in ax.get_yticklabels())


def test_a_plot_of_many_arms_puts_its_legend_beside_the_axes_and_thins_its_bands():
    """The islands report's inbreeding legend (five arms and their theory curves) sat on the curves, and five
    arms' bands at opacity 0.2 stacked into one solid colour."""
    from matplotlib.figure import Figure

    from redqueen.report import LEGEND_INSIDE, band_alpha, legend

    for lines in (2, LEGEND_INSIDE + 1, 10):
        fig = Figure(layout="constrained")
        ax = fig.add_subplot()
        for i in range(lines):
            ax.plot([0, 1], [i, i], label=f"arm {i}")
        legend(ax)
        inside = lines <= LEGEND_INSIDE
        assert (ax.get_legend() is not None) == inside and bool(fig.legends) == (not inside)
    assert band_alpha(1) == band_alpha(2) == 0.2 and band_alpha(5) < 0.1 and 5 * band_alpha(5) <= 0.4
