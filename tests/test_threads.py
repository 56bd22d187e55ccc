"""The one thread policy: every worker (pool, serial) computes with the same BLAS/torch thread count."""

import pytest

from redqueen.runtime import threads
from redqueen.runtime.executors import make_executor


def test_policy_default_env_and_bad_values(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    assert threads.threads_per_worker() == 1
    assert threads.threads_per_worker(3) == 3
    monkeypatch.setenv(threads.ENV, "2")
    assert threads.threads_per_worker() == 2
    monkeypatch.setenv(threads.ENV, "many")
    with pytest.raises(ValueError, match="REDQUEEN_THREADS='many'"):
        threads.threads_per_worker()
    with pytest.raises(ValueError, match=">= 1"):
        threads.threads_per_worker(0)


def test_serial_executor_limits_while_it_runs_and_restores(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    pytest.importorskip("torch").set_num_threads(2)
    before = threads.current()
    ex = make_executor("serial")
    ((_, inside),) = list(ex.map_unordered(threads.current, [0]))
    assert inside == {"blas": 1, "torch": 1}
    assert threads.current() == before  # restored after the loop


def test_a_block_inside_one_with_the_same_limit_does_not_limit_the_pools_again(monkeypatch):
    """The serial runner limits inside whatever block a caller already holds: with the same count the pools are
    already limited, so they are not limited again; another count, or an environment changed in between, scans
    again; the limit holds inside, and everything is restored after each block."""
    calls = []
    real = threads.pools

    class Counting:
        def __init__(self, controller):
            self.controller = controller

        def limit(self, *, limits):
            calls.append(limits)
            return self.controller.limit(limits=limits)

    monkeypatch.setattr(threads, "pools", lambda: Counting(real()))
    monkeypatch.delenv(threads.ENV, raising=False)
    with threads.limited(1):
        with threads.limited(1):
            assert threads.current()["blas"] == 1
        with threads.limited(2):
            assert threads.current()["blas"] in (1, 2)  # (a single-threaded BLAS build stays at 1)
            with threads.limited(2):
                pass
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        with threads.limited(1):
            pass
    assert calls == [1, 2, 1]
    assert threads._ACTIVE == []


@pytest.mark.parametrize("n", [1, 2])
def test_pool_workers_apply_the_policy(n, monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    pytest.importorskip("torch")
    ex = make_executor("pool", workers=1, threads=n)
    try:
        ((_, seen),) = list(ex.map_unordered(threads.current, [0]))
    finally:
        ex.close()
    # torch is first imported in the worker after the initializer: it reads the limit from the environment
    assert seen == {"blas": n, "torch": n}


def test_the_pools_are_scanned_again_only_after_an_import_or_a_fork(monkeypatch):
    """The scan of the BLAS pools is kept between blocks while nothing was imported (a library arrives with an
    import); an import, or another process id (a forked worker), scans again. Either way the limit holds inside
    and is restored after."""
    import sys
    import types

    monkeypatch.delenv(threads.ENV, raising=False)
    first = threads.pools()
    assert threads.pools() is first
    monkeypatch.setitem(sys.modules, "redqueen_test_fresh_module", types.ModuleType("redqueen_test_fresh_module"))
    second = threads.pools()
    assert second is not first and threads.pools() is second
    threads.rescan()  # asked for (a BLAS loaded by ctypes)
    third = threads.pools()
    assert third is not second and threads.pools() is third
    monkeypatch.setattr(threads.os, "getpid", lambda: -1)
    assert threads.pools() is not third
    monkeypatch.undo()
    before = threads.current()["blas"]
    with threads.limited(1):
        assert threads.current()["blas"] == 1
    assert threads.current()["blas"] == before
