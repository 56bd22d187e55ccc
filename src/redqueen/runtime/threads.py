"""One thread policy for BLAS and torch work: every worker (a pool process, a Ray task, or the
serial runner's own process) computes with the same small number of threads.

Lineages are redqueen's unit of parallelism, so by default each worker uses **one** thread:
small matrix products and torch steps on many threads spend their time synchronising, and on a
shared machine they oversubscribe the cores (a 64-256-128 MLP step took 48 ms on 2 threads and
2.4 ms on 1 on a busy 2-core machine). ``REDQUEEN_THREADS=N`` (or ``--threads N`` on the command
line) gives each worker N threads instead, e.g. for one large transformer on an idle machine.

The limit covers the BLAS and OpenMP pools loaded so far (threadpoolctl), torch's intra-op pool
when torch is loaded, and -- through ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` -- libraries
loaded later (torch reads them when it is first imported).
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Iterator

ENV = "REDQUEEN_THREADS"
DEFAULT_THREADS = 1
_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def threads_per_worker(threads: int | None = None) -> int:
    """The policy: ``threads`` if given, else ``$REDQUEEN_THREADS``, else 1.

    Raises ValueError (one line) for a value that is not a positive integer.
    """
    if threads is None:
        raw = os.environ.get(ENV, "").strip()
        if not raw:
            return DEFAULT_THREADS
        try:
            threads = int(raw)
        except ValueError:
            raise ValueError(f"{ENV}={raw!r}: give a positive number of threads per worker, e.g. 1") from None
    if threads < 1:
        raise ValueError(f"threads per worker must be >= 1, got {threads}")
    return int(threads)


def _torch_threads(n: int | None) -> int | None:
    """Set torch's intra-op threads to ``n`` if torch is loaded; returns the previous count (None: no torch)."""
    torch = sys.modules.get("torch")
    if torch is None or not hasattr(torch, "get_num_threads"):
        return None
    before = torch.get_num_threads()
    if n is not None and n != before:
        torch.set_num_threads(n)
    return before


def apply(threads: int | None = None) -> int:
    """Limit this process for good (a worker's initializer); returns the thread count used."""
    from threadpoolctl import threadpool_limits

    n = threads_per_worker(threads)
    for var in _ENV_VARS:
        os.environ[var] = str(n)
    threadpool_limits(n)
    _torch_threads(n)
    return n


#: the thread counts of the ``limited`` blocks this process is inside, innermost last
_ACTIVE: list[int] = []

#: ``((pid, modules imported), controller)``: threadpoolctl's last scan of this process's pools
_SCAN: tuple[tuple[int, int], object] | None = None


def pools():
    """threadpoolctl's controller of the BLAS/OpenMP pools loaded in this process. The scan (~1.4 ms, ~20 ms the
    first time in a process) is redone only when a module was imported since, or in a forked child: libraries
    arrive with imports, and one that loads itself later (MKL's threading layer) reads the limit from the
    environment. A library loaded by ``ctypes`` with no import is not seen until :func:`rescan`."""
    global _SCAN
    from threadpoolctl import ThreadpoolController

    key = (os.getpid(), len(sys.modules))
    if _SCAN is None or _SCAN[0] != key:
        _SCAN = (key, ThreadpoolController())
    return _SCAN[1]


def rescan() -> None:
    """Forget the kept scan of the BLAS pools: the next block scans again (after loading a BLAS by ``ctypes``)."""
    global _SCAN
    _SCAN = None


@contextmanager
def limited(threads: int | None = None) -> Iterator[int]:
    """Limit this process while the block runs (the serial path), then restore what was there. Inside a block
    with the same limit the BLAS pools are already limited (and any library loaded since read the environment),
    so the pools are not even limited again, and the pools' scan is kept between blocks (:func:`pools`)."""
    from contextlib import nullcontext

    n = threads_per_worker(threads)
    saved = {var: os.environ.get(var) for var in _ENV_VARS}
    nested = bool(_ACTIVE) and _ACTIVE[-1] == n and all(v == str(n) for v in saved.values())
    for var in _ENV_VARS:
        os.environ[var] = str(n)
    torch_before = _torch_threads(n)
    _ACTIVE.append(n)
    try:
        with nullcontext() if nested else pools().limit(limits=n):
            yield n
    finally:
        _ACTIVE.pop()
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
        if torch_before is not None:
            _torch_threads(torch_before)
        # torch first imported inside the block read the limit from the environment and keeps it


def current(_task=None) -> dict[str, int | None]:
    """What this process computes with now: the largest BLAS/OpenMP pool (threadpoolctl) and torch's
    intra-op threads (torch imported here if installed). Takes an ignored task so an executor can map it."""
    from threadpoolctl import threadpool_info

    try:
        import torch
    except ImportError:  # torch is optional
        torch = None
    pools = [p["num_threads"] for p in threadpool_info()]
    return {"blas": max(pools) if pools else None, "torch": torch.get_num_threads() if torch is not None else None}
