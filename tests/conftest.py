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
