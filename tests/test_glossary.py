"""Every number a record can carry has a definition in the glossary the terminal and the report print."""

import numpy as np

from redqueen.runtime import config as C
from redqueen.arena.genes import GENES
from redqueen.runtime.display import definition
from redqueen.runtime.runner import run_experiment
from test_arena import _text_config


def test_every_metric_of_populations_arenas_and_the_web_is_defined(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(f"w{i % 37} w{(i * 7) % 41} w{(i * 3) % 29} end" for i in range(600)))
    arena = _text_config("history", reps=1, gens=1, corpus=str(corpus), vocab=100, n=200, samples=40, web=100)
    arena["arms"][0]["couplings"][0].update(genes=["temperature", "logit_bias"], heldout=1)
    configs = [
        {"seed": 1, "generations": 2, "n": 200, "world": {"kind": "zipf", "k": 50}, "family": {"kind": "categorical"},
         "arms": [{"name": "m", "members": 3, "couplings": [{"kind": "migration", "rate": 0.1}]},
                  {"name": "q", "members": 3, "couplings": [{"kind": "quality_diversity", "reference": 50}]},
                  {"name": "n", "members": 3, "couplings": [{"kind": "niches", "reference": 50}]}]},
        arena,
        {"seed": 1, "generations": 2, "n": 100, "reference_size": 50,
         "world": {"kind": "text", "corpus": str(corpus), "vocab_size": 100, "max_len": 8},
         "family": {"kind": "ngram", "smoothing": "additive", "watermark": {}},
         "arms": [{"name": "w", "regime": "web", "web_real_rate": 50, "radioactivity": 50,
                   "curation": [{"kind": "filter", "stage": "mixed", "keep": 0.8}]}]},
    ]
    seen, missing = set(), set()
    for cfg in configs:
        for r in run_experiment(C.validate(cfg), checkpoints=False).records:
            seen.update(r.metrics)
            missing.update(k for k in r.metrics if definition(k) is None)
    assert not missing, sorted(missing)
    assert {"fst", "pool_kl", "det_auc_heldout", "web_ppl_real", "arena_logit_bias", "filter_recall",
            "radioactivity_z", "train_synthetic_share"} <= seen  # the runs reach what the test means to check
    assert "web model" in definition("web_kl") and "pooled" in definition("pool_hill2")


def test_every_arena_gene_is_defined():
    assert np.all([definition(f"arena_{g}") for g in GENES]) and definition("arena_nonsense") is None
