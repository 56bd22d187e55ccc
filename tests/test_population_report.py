"""What a population run reports: the genealogy as a layered graph, F_ST against its theory, what each cure did;
and a P = 1 run's report as it was before populations were reported (tests/data/report_p1.json)."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import redqueen
from redqueen import report
from redqueen.loop.record import GenerationRecord, Parent, pack_distribution
from redqueen.runtime.store import Store

GOLDEN = Path(__file__).resolve().parent / "data" / "report_p1.json"


# ---------------------------------------------------------------- P = 1: the report is unchanged in substance


def p1_run(store: Store) -> tuple[str, dict]:
    """A plain-lineage run with everything a report shows: arms in words, replicates, an infinite value, a
    diverged generation, samples, a per-item distribution and theory curves. Deterministic, machine-free."""
    config = {"n": 100, "world": {"kind": "zipf", "k": 20}, "family": {"kind": "categorical"},
              "arms": [{"name": "replace"}, {"name": "fresh", "regime": "fresh", "real_fraction": 0.1},
                       {"name": "noisy", "curation": [{"kind": "noise", "rate": 0.01}]}]}
    rid = store.create_run(name="p1 report", kind="collapse", config=config, seed=11,
                           arms=[(a["name"], {"regime": a.get("regime", "replace")}) for a in config["arms"]])
    rng = np.random.default_rng(0)
    recs = []
    for k, arm in enumerate(("replace", "fresh", "noisy")):
        for rep in range(3):
            for g in range(8):
                h = 0.9 * (1 - 0.05 * (k + 1)) ** g + 0.01 * rep
                metrics = {"heterozygosity": h, "types_lost": float(g * (3 - k) + rep), "kl": 0.1 * g + 0.01 * rep,
                           "hill1": 10.0 - g + rep, "tail_mass_kept": 1.0 - 0.1 * g * (3 - k) / 3 + 0.01 * rep}
                if arm == "noisy" and g == 5 and rep == 1:
                    metrics["kl"] = math.inf
                samples = (f"{arm} r{rep} g{g} <sample>",) if g in (0, 7) else ()
                dist = (("ppl_gen0", pack_distribution(np.exp(rng.normal(2 + 0.1 * g, 0.3, size=50)))),)
                recs.append(GenerationRecord(arm, rep, g, metrics, samples, 0.01, 100, distributions=dist))
    recs.append(GenerationRecord("fresh", 2, 8, {"heterozygosity": math.nan}, (), 0.01, 100, "diverged", "nan loss"))
    store.append(rid, recs)
    store.finish(rid)
    theory = {(rid, "replace", "heterozygosity"): 0.9 * 0.95 ** np.arange(8), (rid, None, "kl"): ([0.0, 7.0], [0.0, 0.7])}
    return rid, theory


def _value(v):
    v = float(v)
    return None if math.isnan(v) else v.hex()


def p1_substance(folder: Path) -> dict:
    """The report of :func:`p1_run` without what differs between two writes (run id, paths, times, provenance,
    PNG bytes): the HTML text, and every figure's axes -- titles, labels, scales and each line's data."""
    figures = []
    png = report._png

    def capture(fig):
        axes = []
        for ax in fig.axes:
            lines = [{"label": ln.get_label(), "style": ln.get_linestyle(), "color": ln.get_color(),
                      "x": [_value(x) for x in ln.get_xdata()], "y": [_value(y) for y in ln.get_ydata()]}
                     for ln in ax.get_lines()]
            axes.append({"title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
                         "yscale": ax.get_yscale(), "xscale": ax.get_xscale(), "lines": lines,
                         "bands": len(ax.collections)})
        figures.append(axes)
        return png(fig)

    report._png = capture
    try:
        with Store(folder / "runs") as store:
            rid, theory = p1_run(store)
            text = report.write_report(store, [rid], folder / "p1.html", theory=theory).read_text()
            info = store.run(rid)
    finally:
        report._png = png
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "PNG", text)
    text = re.sub(r"Written [^<]* UTC", "Written WHEN", text)
    text = text.replace(str(store.path), "STORE").replace(rid, "RUN")
    facts = re.search(r"<table class='facts'>.*?</table>", text).group()
    for value in (info.created, info.finished, info.version, info.commit or "unknown", info.python, info.platform):
        facts = facts.replace(f"<td>{value}</td>", "<td>PROVENANCE</td>", 1)
    text = re.sub(r"<table class='facts'>.*?</table>", lambda m: facts, text, count=1)
    return {"html": text, "figures": figures}


def test_a_p1_run_reports_as_before_populations(tmp_path):
    """tests/data/report_p1.json was written by `python tests/test_population_report.py write` on the report
    before populations were reported (main at 40b8f48): the HTML and every plotted number are the same. Rewritten twice
    since, the figures' lines unchanged: for one added note (hill1's band cut at the axes, 2026-12-02), and for the
    first/last table's intervals written clipped to what the metric can take (``1 [0, 6.73]`` for a types count
    whose ``1 ± 5.7`` reached below 0) and the collapse profile in the run tables' number format, its text columns
    left-aligned (2026-12-04), the two CSS rules of numeric table cells merged into one (2026-12-05: the
    style sheet's text only), and wide tables put in a box that scrolls sideways (2026-12-07: one CSS rule and the
    first/last table's wrapper)."""
    want = json.loads(GOLDEN.read_text())
    got = p1_substance(tmp_path)
    assert got["figures"] == want["figures"]
    assert got["html"] == want["html"]
    assert "Genealogy" not in got["html"] and "Populations" not in got["html"]


# ---------------------------------------------------------------- populations


def _population_exp(**over):
    data = {"name": "pops", "seed": 4, "generations": 12, "n": 120, "replicates": 3, "reference_size": 100,
            "world": {"kind": "zipf", "k": 60}, "family": {"kind": "categorical"},
            "arms": [{"name": "replace"},
                     {"name": "islands", "members": 4, "couplings": [{"kind": "migration", "rate": 0.1}]},
                     {"name": "merge", "members": 4, "couplings": [{"kind": "merge", "children": 1}]}]}
    data.update(over)
    return redqueen.validate(data)


@pytest.fixture(scope="module")
def population_run(tmp_path_factory):
    from redqueen.runtime.runner import run_experiment

    folder = tmp_path_factory.mktemp("pops")
    exp = _population_exp()
    with Store(folder) as store:
        result = run_experiment(exp, store=store)
    return folder, exp, result


def test_population_report_draws_genealogies_and_fst_with_island_theory(population_run, tmp_path, monkeypatch):
    from redqueen import theory
    from redqueen.loop.couplings import migration_matrix
    from redqueen.runtime.predictions import theory_curves

    folder, exp, result = population_run
    figures = []
    png = report._png
    monkeypatch.setattr(report, "_png", lambda fig: (figures.append(fig), png(fig))[1])
    store = Store(folder)
    text = report.write_report(store, [result.run_id], tmp_path / "r.html",
                               theory=theory_curves(store, [result.run_id])).read_text()
    assert "<h3>Populations</h3>" in text and "What each cure did" in text
    assert "Genealogy of islands" in text and "Genealogy of merge" in text and "Genealogy of replace" not in text
    assert "population of 4 members: migration m = 0.1 (all)" in text  # the arms in words
    assert "its members averaged" in text
    titles = [f.axes[0].get_title() for f in figures]
    assert titles.count("fst") == 1  # in the population section, not also in the grid
    fst = next(f for f in figures if f.axes[0].get_title() == "fst").axes[0]
    lines = {ln.get_label(): ln for ln in fst.get_lines()}
    assert set(lines) == {"islands", "islands (theory)", "merge"}  # merge has no closed form; replace no F_ST
    h0 = float(np.mean([r.metrics["heterozygosity"] for r in result.records if r.arm == "islands" and r.generation == 0]))
    from redqueen.runtime.build import make_world

    want = theory.predict("fst", family=redqueen.models.CategoricalFamily(), regime=redqueen.loop.regimes.Replace(),
                          world=make_world(exp.world), n=exp.n, generations=exp.generations, h0=h0, members=4,
                          migration=migration_matrix(4, 0.1, "all"))
    np.testing.assert_allclose(lines["islands (theory)"].get_ydata(), want)
    # the simulated line is the mean over replicates of the population's F_ST (one value per population)
    sim = result.trajectory("islands", "fst").mean(axis=0)
    np.testing.assert_allclose(lines["islands"].get_ydata(), sim)
    genealogies = [f for f in figures if f.axes[0].get_ylabel() == "member"]
    assert [f.axes[0].get_title() for f in genealogies] == ["islands: replicate 0", "merge: replicate 0"]


def test_population_metrics_are_averaged_over_members_before_replicates(population_run):
    _, _, result = population_run
    means = report.member_means(list(result.records))
    plain = [r for r in result.records if r.arm == "replace"]
    assert [r for r in means if r.arm == "replace"] == plain and all(
        a is b for a, b in zip([r for r in means if r.arm == "replace"], plain))  # P = 1: the records themselves
    for arm in ("islands", "merge"):
        mine = [r for r in means if r.arm == arm]
        assert len(mine) == 3 * 13
        got = np.array([[r.metrics["types_lost"] for r in mine if r.replicate == rep] for rep in range(3)])
        np.testing.assert_allclose(got, result.trajectory(arm, "types_lost"))


def test_plot_takes_populations(population_run):
    _, _, result = population_run
    fig = redqueen.plot.metric(result, "types_lost", theory=False)
    line = next(ln for ln in fig.axes[0].get_lines() if ln.get_label() == "islands")
    np.testing.assert_allclose(line.get_ydata(), result.trajectory("islands", "types_lost").mean(axis=0))
    assert redqueen.plot.genealogy(result, "merge").axes[0].get_title() == "merge: replicate 0"
    with pytest.raises(KeyError, match="no records of arm"):
        redqueen.plot.genealogy(result, "nope")


def _console():
    from rich.console import Console

    return Console(record=True, width=400, color_system=None)


def test_summary_says_what_each_cure_did_next_to_replace(population_run):
    from redqueen.runtime.summary import print_summary

    folder, exp, result = population_run
    store = Store(folder)
    console = _console()
    print_summary(console, store, store.run(result.run_id))
    out = console.export_text()
    assert "What each cure did, at gen 12" in out
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in out.splitlines() if line.startswith("│") and line.split("│")[1].strip() in ("replace", "islands", "merge")
            and len(line.split("│")) > 8}
    assert rows["replace"][1] == "-" and rows["replace"][-1] == "-"  # no coupling, no F_ST
    assert rows["islands"][1] == "10.0% of training items from the other members"
    assert rows["merge"][1] == "13 members replaced by a weight-space child per replicate"  # one child a generation
    fst = [r.metrics["fst"] for r in result.records if r.arm == "islands" and r.generation == 12 and r.member == 0]
    from redqueen.runtime.display import replicate_stats

    assert rows["islands"][-1] == replicate_stats(fst, metric="fst").text()
    lost = replicate_stats(result.final("islands", "types_lost"), metric="types_lost").text()
    assert rows["islands"][2] == lost  # member mean, from the real-data fits at generation 0
    pooled = [r.metrics["pool_types_lost"] for r in result.records if r.arm == "islands" and r.generation == 12
              and r.member == 0]
    assert rows["islands"][3] == replicate_stats(pooled, metric="pool_types_lost").text()
    assert "types lost: pool" in out and "pool_types_lost: " in out  # the header names its measure; the glossary
    assert rows["replace"][2] == rows["replace"][3]  # one member: the population is the lineage
    assert "N_e" in out and "not drift (a population with couplings)" in out
    assert "fst: F_ST" in out  # the glossary


def test_the_cure_table_shows_what_the_world_measures(population_run, tmp_path):
    """A categorical population's table has types lost, tail mass, KL and Hill q=1 (member and pool) and no
    perplexity; a Gaussian one has W1 and the variance ratio, with F_ST from the members' samples, and no types."""
    from redqueen.runtime.runner import run_experiment
    from redqueen.runtime.summary import cure_table

    folder, _, result = population_run
    store = Store(folder)
    _, head, _, _ = cure_table(store, store.run(result.run_id))
    assert {"types lost: member", "tail mass kept", "KL: pool", "Hill q=1: member", "Hill q=1: pool", "F_ST"} <= set(head)
    assert not {"ppl_real", "W1", "var ratio"} & set(head)
    exp = redqueen.validate({"seed": 1, "generations": 3, "n": 60, "replicates": 2, "world": {"kind": "gaussian", "d": 2},
                             "family": {"kind": "gaussian"},
                             "arms": [{"name": "replace"}, {"name": "islands", "members": 3,
                                                            "couplings": [{"kind": "migration", "rate": 0.2}]}]})
    with Store(tmp_path) as g:
        res = run_experiment(exp, store=g)
        title, head, rows, _ = cure_table(g, g.run(res.run_id))
    assert head == ["arm", "cure", "what it did", "W1", "var ratio", "F_ST"] and "types lost" not in title
    assert rows[0][-1] == "-" and rows[1][-1] != "-"


def test_a_p1_summary_has_no_cure_table(tmp_path):
    from redqueen.runtime.runner import run_experiment
    from redqueen.runtime.summary import print_summary

    exp = _population_exp(arms=[{"name": "replace"}, {"name": "fresh", "regime": "fresh"}], replicates=2, generations=3)
    with Store(tmp_path) as store:
        result = run_experiment(exp, store=store)
        console = _console()
        print_summary(console, store, store.run(result.run_id))
    assert "What each cure did" not in console.export_text()


# ---------------------------------------------------------------- the genealogy graph


def _rec(g, member, parents=(), **metrics):
    return GenerationRecord("pop", 0, g, {"tail_mass_kept": 1.0, **metrics}, member=member, parents=tuple(parents))


def _population_records():
    """Three members over generations 0-4 with one event of every kind."""
    events = {
        (0, 0): [Parent(1, 0.5, "merge"), Parent(0, 0.5, "merge")],  # at generation 0: no earlier layer
        (1, 0): [Parent(2, 0.1, "migrant")],  # items of member 2 at gen 1 -> member 0's training set at gen 2
        (2, 1): [Parent(0, 0.3, "merge"), Parent(1, 0.7, "merge")],  # member 1 merged with 0 (and itself)
        (3, 2): [Parent(0, 1.0, "copy")],  # island reset: member 2 re-seeded from 0
        (3, 1): [Parent(-1, 1.0, "archive")],  # bred from archive elites
        (4, 0): [Parent(1, 0.2, "migrant")],  # items for generation 5, past the end: not drawn
    }
    return [_rec(g, m, events.get((g, m), ())) for m in range(3) for g in range(5)]


def genealogy_graph(records, **kw):
    from redqueen.genealogy import genealogy_graph as build  # here: the P = 1 golden is written without it

    return build(records, **kw)


ARCHIVE = -1  # redqueen.genealogy.ARCHIVE: the archive row


def _edges(gen, kind):
    return sorted((u, v, round(d["weight"], 12)) for u, v, d in gen.graph.edges(data=True) if d["kind"] == kind)


def test_genealogy_edges_run_from_layer_to_layer_at_the_time_they_act():
    gen = genealogy_graph(_population_records())
    assert gen.layers == [(g, g) for g in range(5)] and gen.members == 3 and gen.window == 1
    assert _edges(gen, "migrant") == [((1, 2), (2, 0), 0.1)]
    assert _edges(gen, "merge") == [((1, 0), (2, 1), 0.3), ((1, 1), (2, 1), 0.7)]
    assert _edges(gen, "copy") == [((2, 0), (3, 2), 1.0)]
    assert _edges(gen, "archive") == [((2, ARCHIVE), (3, 1), 1.0)]
    inherit = {(u, v) for u, v, _ in _edges(gen, "inherit")}
    assert ((2, 2), (3, 2)) not in inherit and ((2, 1), (3, 1)) not in inherit  # replaced wholly: no own past
    assert ((1, 1), (2, 1)) in inherit  # a merge child of itself keeps its lineage
    assert len(inherit) == 4 * 3 - 2
    assert gen.at_start == 2 and gen.events == {"merge": 4, "migrant": 2, "copy": 1, "archive": 1}
    replaced = {n for n, d in gen.graph.nodes(data=True) if d["replaced"]}
    assert replaced == {(0, 0), (2, 1), (3, 1), (3, 2)}
    assert all(gen.graph.nodes[(k, ARCHIVE)] for k in range(5))  # the archive row is in every layer


def test_genealogy_windows_sum_edges_and_thin_migrants_evenly():
    rng = np.random.default_rng(1)
    recs = []
    for g in range(121):
        for i in range(16):
            w = rng.uniform(0.001, 0.01, size=16)
            recs.append(_rec(g, i, [Parent(j, float(w[j]), "migrant") for j in range(16) if j != i]))
    full = genealogy_graph(recs, max_layers=31, max_migrant_edges=10**9)
    assert full.window == 4 and len(full.layers) == 31 and full.layers[:2] == [(0, 0), (1, 4)]
    assert full.layers[-1] == (117, 120)
    # every stored migrant weight whose target generation exists is drawn, summed into its layers
    stored = sum(p.weight for r in recs for p in r.parents if r.generation < 120)
    assert sum(d["weight"] for *_, d in full.graph.edges(data=True) if d["kind"] == "migrant") == pytest.approx(stored)
    assert len(_edges(full, "migrant")) == 30 * 16 * 15
    thin = genealogy_graph(recs, max_layers=31, max_migrant_edges=2500)
    assert thin.migrant_stride == 3
    kept = _edges(thin, "migrant")
    assert {u[0] for u, _, _ in kept} == set(range(0, 30, 3)) and len(kept) == 10 * 16 * 15  # whole gaps, every pair
    assert "one of every 3 gaps" in thin.note() and "29,040 edges stored" in thin.note()
    # the difference the caption must explain: generation 120's migrants would train generation 121
    assert full.after_end == 16 * 15 and "the last generation's 240 migrant edges are not drawn" in full.note()


def test_genealogy_takes_one_population():
    recs = _population_records()
    with pytest.raises(ValueError, match="one population"):
        genealogy_graph(recs + [GenerationRecord("other", 0, 0, {})])
    with pytest.raises(ValueError, match="none"):
        genealogy_graph([])


if __name__ == "__main__" and sys.argv[1:] == ["write"]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        GOLDEN.write_text(json.dumps(p1_substance(Path(tmp)), indent=1) + "\n")
    print(f"wrote {GOLDEN} with redqueen from {report.__file__}")


def test_coupling_words_tell_apart_arms_that_differ_in_one_setting():
    """Two niche arms that differ only in their score, or three arena arms that differ in the detector's regime, read
    differently: a headline per kind, then every setting that is not the config's default."""
    import redqueen
    from redqueen.runtime.summary import arm_words, coupling_words

    exp = redqueen.validate({
        "world": {"kind": "zipf", "k": 50}, "family": {"kind": "categorical"},
        "arms": [{"name": "likelihood", "members": 3, "couplings": [{"kind": "niches", "children": 2}]},
                 {"name": "coverage", "members": 3, "couplings": [{"kind": "niches", "children": 2, "score": "coverage"}]},
                 {"name": "mutated", "members": 3, "couplings": [{"kind": "merge", "mutation": "gaussian", "sigma": 0.05}]}]})
    config = exp.model_dump(mode="json")  # what the store keeps: every field, defaults included
    words = {a: arm_words(config, a) for a in ("likelihood", "coverage", "mutated")}
    assert words["likelihood"] != words["coverage"] and "score coverage" in words["coverage"]
    assert "(mutation gaussian; sigma 0.05)" in words["mutated"] and "density" not in words["mutated"]
    arena = {"kind": "arena", "regime": "history", "detector": {"kind": "hashed_ngram"}, "genes": ["logit_bias"],
             "heldout": 4, "capacity": 3}
    assert coupling_words(arena).startswith("arena: history hashed_ngram detector, genes logit_bias, 4 held out")
    assert "capacity 3" in coupling_words(arena)


def test_what_migration_did_names_where_the_migrants_came_from():
    """A ring arm said its members took 10% of their items "from other members": on a ring each takes them from
    the previous member only."""
    from redqueen.runtime.summary import what_it_did

    events = {"migrant": (100, 10.0)}
    assert what_it_did(events, 1, ["ring"]) == "10.0% of training items from the previous member on the ring"
    assert what_it_did(events, 1, ["stepping_stone"]) == "10.0% of training items from the two neighbours on the circle"
    assert what_it_did(events, 1, ["all"]) == "10.0% of training items from the other members"
    assert what_it_did(events, 1, ["ring", "all"]) == "10.0% of training items from other members"


def test_show_rows_of_a_population_name_their_member_and_filter_by_it(population_run, capsys):
    """`redqueen show --arm islands --metric fst` printed each (replicate, generation) four times, one per member,
    with nothing to tell the rows apart."""
    from redqueen.cli import main

    folder, exp, result = population_run
    assert main(["show", result.run_id, "-o", str(folder), "--arm", "islands", "--metric", "hill0", "--every", "6"]) == 0
    out = capsys.readouterr().out.splitlines()
    head = next(i for i, line in enumerate(out) if line.startswith("arm"))
    assert out[head].split() == ["arm", "rep", "member", "gen", "hill0"]
    rows = [line.split() for line in out[head + 1:]]
    assert len(rows) == 3 * 4 * 3 and len({tuple(r[:3]) + (r[3],) for r in rows}) == len(rows)  # reps x members x gens
    want = {(r.replicate, r.member, r.generation): r.metrics["hill0"] for r in result.records if r.arm == "islands"}
    assert all(float(r[4]) == want[(int(r[1]), int(r[2]), int(r[3]))] for r in rows)
    assert main(["show", result.run_id, "-o", str(folder), "--arm", "islands", "--member", "2", "--metric", "hill0"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("islands")]
    assert len(rows) == 3 * 13 and {r[2] for r in rows} == {"2"}
    assert main(["show", result.run_id, "-o", str(folder), "--arm", "replace", "--member", "2"]) == 2
    assert "arm 'replace' has no member 2; its members are 0-0" in capsys.readouterr().err
