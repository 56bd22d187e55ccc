"""Every number a record can carry has a definition in the glossary the terminal and the report print."""

import numpy as np

from redqueen.runtime import config as C
from redqueen.arena.genes import GENES
from redqueen.runtime.display import ANY_SIGN, RANGES, SAME_RANGE, definition, support
from redqueen.runtime.runner import run_experiment
from test_arena import _text_config


def test_every_metric_of_populations_arenas_and_the_web_is_defined_and_has_its_range(tmp_path):
    """A definition for the terminal and the report, and the values it can take (a band of its mean is clipped
    to them): every recorded metric is in RANGES (a pooled or web number through its bare metric's) or declared
    ANY_SIGN, and every recorded value lies in its range."""
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
    configs.append({"seed": 1, "generations": 2, "n": 100, "world": {"kind": "regression", "d": 3},
                    "family": {"kind": "regression"}, "arms": [{"name": "r"}]})
    configs.append({"seed": 1, "generations": 2, "n": 200, "world": {"kind": "gaussian", "d": 2},
                    "family": {"kind": "gaussian"},
                    "arms": [{"name": "g", "members": 3, "couplings": [{"kind": "migration", "rate": 0.1}]}]})
    seen, missing, unranged, outside = set(), set(), set(), set()
    for cfg in configs:
        for r in run_experiment(C.validate(cfg), checkpoints=False).records:
            seen.update(r.metrics)
            missing.update(k for k in r.metrics if definition(k) is None)
            unranged.update(k for k in r.metrics if support(k) == (-np.inf, np.inf)
                            and not any(k.removeprefix(p) in ANY_SIGN for p in ("", *SAME_RANGE)))
            outside.update(k for k, v in r.metrics.items()
                           if np.isfinite(v) and not support(k)[0] <= v <= support(k)[1])
    assert not missing, sorted(missing)
    assert not unranged, sorted(unranged)
    assert not outside, sorted(outside)
    assert support("pool_hill2") == RANGES["hill2"] and support("web_tv") == (0.0, 1.0)
    assert {"fst", "pool_kl", "det_auc_heldout", "web_ppl_real", "arena_logit_bias", "filter_recall",
            "radioactivity_z", "train_synthetic_share", "test_error", "noise_var_ratio", "pool_hill2"} <= seen  # the runs reach what the test means to check
    assert "web model" in definition("web_kl") and "pooled" in definition("pool_hill2")


def test_every_arena_gene_is_defined():
    assert np.all([definition(f"arena_{g}") for g in GENES]) and definition("arena_nonsense") is None
