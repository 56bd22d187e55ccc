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
