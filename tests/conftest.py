import signal

import numpy as np
import pytest

# A shell starts background jobs with SIGINT ignored, and children inherit an ignored signal: tests that press
# Ctrl-C on a redqueen subprocess then see it ignored (the run finishes "done"). Catching SIGINT here gives every
# child the default disposition again (a caught signal is reset at exec).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def digits_arena_config(family: dict, genes: list[str], gene_sigma: float, regime: str = "adapting", seed: int = 12,
                        name: str = "digits genes") -> dict:
    """A tiny digits arena (3 generators, 3 rounds of 150 images, an 8-unit MLP detector on 60 + 60) whose
    ``genes`` evolve: the sampling-gene tests' run (tests/test_mixture_genes.py, test_vae_genes.py,
    test_shift_gene.py)."""
    arena = {"kind": "arena", "regime": regime, "samples": 60, "children": 1, "heldout": 0, "reference": 60,
             "mutation": "none", "genes": list(genes), "gene_sigma": gene_sigma, "slack": 32.0,
             "detector": {"kind": "classifier", "params": {"hidden_layer_sizes": [8], "max_iter": 50}}}
    return {"name": name, "seed": seed, "generations": 3, "n": 150, "replicates": 1, "reference_size": 60,
            "world": {"kind": "digits", "scale": True}, "family": family,
            "arms": [{"name": "a", "members": 3, "regime": "fresh", "real_fraction": 0.5, "couplings": [arena]}]}


#: the VAE tests' tiny model (tests/test_neural_vae.py, tests/test_vae_genes.py)
VAE_TINY = dict(latent_dim=2, hidden=(16,), epochs=3, batch_size=32)


@pytest.fixture(scope="session")
def digits():
    """The first 200 of scikit-learn's 8x8 digits as Points (pixel values 0-16)."""
    from sklearn.datasets import load_digits

    from redqueen.data import Points

    return Points(load_digits().data[:200])


@pytest.fixture(scope="session")
def tiny_vae(digits):
    """A :data:`VAE_TINY` VAE fitted on :func:`digits` with seed 0 (needs torch: the tests using it skip without)."""
    from redqueen.models.neural import VAEFamily

    return VAEFamily(**VAE_TINY).fit(digits, np.random.default_rng(0))
